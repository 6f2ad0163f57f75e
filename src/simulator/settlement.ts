import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  fromDecimal,
  parseRequestFile,
  type ResponseLine,
  SETTLEMENT_ERRORS,
  writeResponseFile,
} from "../connectors/index.ts";
import type { SimContext } from "./context.ts";

/**
 * The operators' settlement desk: request files dropped in `<dir>/<mccmnc>/in/` are charged line
 * by line and answered by a response file in `<dir>/<mccmnc>/out/`. Some lines are left out of a
 * response (all `…0003` lines the first time, plus a seeded fraction) and reported in the next one.
 */
export class SettlementDesk {
  private readonly carried = new Map<string, ResponseLine[]>();
  private readonly sequence = new Map<string, number>();

  constructor(
    private readonly ctx: SimContext,
    readonly dir: string,
  ) {}

  private queue: Promise<unknown> = Promise.resolve();

  /** Processes every waiting request file; returns the response files written. Runs one at a time. */
  run(): Promise<string[]> {
    const next = this.queue.then(() => this.runOnce());
    this.queue = next.catch(() => {});
    return next;
  }

  private async runOnce(): Promise<string[]> {
    const written: string[] = [];
    await mkdir(this.dir, { recursive: true });
    for (const op of await readdir(this.dir)) {
      if (!this.ctx.net.operator(op)) continue;
      const inDir = join(this.dir, op, "in");
      const outDir = join(this.dir, op, "out");
      await mkdir(join(inDir, "processed"), { recursive: true });
      await mkdir(outDir, { recursive: true });
      const files = (await readdir(inDir)).filter((f) => f.endsWith(".csv")).sort();
      // Lines held back by earlier runs go into this run's first file; lines held back now wait for the next run.
      let previous = this.carried.get(op) ?? [];
      this.carried.set(op, []);
      for (const name of files) {
        let lines: ResponseLine[];
        try {
          lines = this.process(op, parseRequestFile(await readFile(join(inDir, name), "utf8")));
        } catch {
          lines = [];
        }
        await rename(join(inDir, name), join(inDir, "processed", name));
        written.push(await this.write(op, outDir, [...previous, ...lines]));
        previous = [];
      }
      if (previous.length > 0) written.push(await this.write(op, outDir, previous));
    }
    return written;
  }

  private process(op: string, file: ReturnType<typeof parseRequestFile>): ResponseLine[] {
    const out: ResponseLine[] = [];
    for (const l of file.lines) {
      const amount = fromDecimal(l.amount, l.currency);
      let line: ResponseLine;
      if (amount === undefined || amount <= 0n) {
        line = { ...l, record_status: "FAIL", error_code: SETTLEMENT_ERRORS.invalid_currency };
      } else {
        const r = this.ctx.net.charge({
          scope: `${op}/settlement`,
          key: l.reference,
          operator: op,
          protocol: "settlement",
          msisdn: l.msisdn,
          amount,
          currency: l.currency,
          description: l.description,
        });
        const reason = r.kind === "transient" ? "transient" : r.txn.reason;
        line = {
          line_no: l.line_no,
          msisdn: l.msisdn,
          amount: l.amount,
          currency: l.currency,
          reference: l.reference,
          record_status: reason ? "FAIL" : "SUCCESS",
          error_code: reason ? SETTLEMENT_ERRORS[reason] : "",
        };
        const late =
          r.kind === "applied" &&
          (r.txn.behaviour === "hang" || this.ctx.net.random() < this.ctx.config.settlement_missing_rate);
        if (late) {
          this.carried.set(op, [...(this.carried.get(op) ?? []), line]);
          continue;
        }
      }
      out.push(line);
    }
    return out;
  }

  private async write(op: string, outDir: string, lines: ResponseLine[]): Promise<string> {
    const seq = (this.sequence.get(op) ?? 0) + 1;
    this.sequence.set(op, seq);
    const name = `RESP_${op}_${String(seq).padStart(6, "0")}.csv`;
    const text = writeResponseFile({ sender: op, receiver: "centime", sequence: seq, lines }, new Date());
    await writeFile(join(outDir, `${name}.part`), text);
    // Written under a temporary name then renamed, so a reader never sees half a file.
    await rename(join(outDir, `${name}.part`), join(outDir, name));
    return join(outDir, name);
  }
}
