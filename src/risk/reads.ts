import type { Db } from "../db/db.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { ListName, ListType } from "./attributes.ts";

/** A look-up in a list too long to keep in memory (velocity counts come from memory: counters.ts). */
export type Read = { list: { type: ListType; name: ListName; value: string } };

interface Waiting {
  scope: AuthScope;
  reads: Read[];
  resolve: (answers: number[]) => void;
  reject: (error: unknown) => void;
}

/** Reads per statement at most (each takes 5 parameters; PostgreSQL allows 65,535). */
const READS_PER_STATEMENT_MAX = 2000;

/**
 * The list look-ups of payments in flight at once, in one statement: like group commit
 * for writes, the attempts that arrive while a statement runs share the next one, so a busy API
 * pays one round trip per batch, not per payment.
 */
export class ReadBatcher {
  private queue: Waiting[] = [];
  private running = false;

  constructor(private readonly db: Db) {}

  read(scope: AuthScope, reads: Read[]): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ scope, reads, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch: Waiting[] = [];
        let size = 0;
        while (
          this.queue.length > 0 &&
          (batch.length === 0 || size + this.queue[0]!.reads.length <= READS_PER_STATEMENT_MAX)
        ) {
          const next = this.queue.shift()!;
          size += next.reads.length;
          batch.push(next);
        }
        try {
          const answers = await this.run(batch);
          let at = 0;
          for (const w of batch) {
            w.resolve(answers.slice(at, at + w.reads.length));
            at += w.reads.length;
          }
        } catch (error) {
          for (const w of batch) w.reject(error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async run(batch: Waiting[]): Promise<number[]> {
    const parts: string[] = [];
    const params: unknown[] = [];
    const p = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    let i = 0;
    for (const w of batch)
      for (const read of w.reads) {
        const scope = `merchant_id = ${p(w.scope.merchantId)} and mode = ${p(w.scope.mode)}`;
        const l = read.list;
        parts.push(
          `select ${i}::int as i, count(*)::int as n from risk_list_entries where ${scope} and list_type = ${p(l.type)} and list = ${p(l.name)} and value = ${p(l.value)}`,
        );
        i++;
      }
    const { rows } = await this.db.query<{ i: number; n: number }>(
      parts.map((part) => `(${part})`).join(" union all "),
      params,
    );
    const answers = new Array<number>(i).fill(0);
    for (const row of rows) answers[Number(row.i)] = Number(row.n);
    return answers;
  }
}
