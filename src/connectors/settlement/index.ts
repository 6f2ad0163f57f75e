import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConnectorBase, type ConnectorOptions } from "../sdk/base.ts";
import { outcomeLabel } from "../sdk/exchange.ts";
import { fromDecimal, toDecimal } from "../sdk/money.ts";
import { checkedSuccess, type DeclineMap, declineFor } from "../sdk/outcome.ts";
import type { Capability, ChargeInput, Connector, Outcome, SyncInput } from "../sdk/types.ts";
import {
  parseRequestFile,
  parseResponseFile,
  type RequestLine,
  type ResponseLine,
  SETTLEMENT_ERRORS,
  writeRequestFile,
} from "./format.ts";

/**
 * File-based settlement: charges are collected into a request file dropped in the operator's
 * `in/` folder (`flush`); the operator's response files in `out/` are read later (`collect`),
 * matched line by line on our reference (the attempt id), and every line of a request file that
 * a response does not mention is marked MISSING (unknown until a later file reports it).
 * Nothing here trusts memory: `sync` re-reads the folder, so it works after a restart.
 */

export const SETTLEMENT_DECLINES: DeclineMap = {
  [SETTLEMENT_ERRORS.insufficient_funds]: {
    category: "insufficient_funds",
    retryable: true,
    retry_after_ms: 86_400_000,
  },
  [SETTLEMENT_ERRORS.barred]: { category: "barred" },
  [SETTLEMENT_ERRORS.limit_transaction]: { category: "limit_reached" },
  [SETTLEMENT_ERRORS.limit_month]: { category: "limit_reached", retryable: true, retry_after_ms: 86_400_000 },
  [SETTLEMENT_ERRORS.invalid_currency]: { category: "invalid" },
  [SETTLEMENT_ERRORS.transient]: { category: "limit_reached", retryable: true, retry_after_ms: 86_400_000 },
};

export const BATCH_LINES_MAX = 10_000;

interface Known {
  request?: RequestLine & { file: string };
  response?: ResponseLine;
  /** A response to the line's request file exists but does not mention the line. */
  missing?: boolean;
}

export class SettlementConnector extends ConnectorBase implements Connector {
  readonly protocol = "settlement";
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(["charge"]);
  private batch: RequestLine[] = [];
  private sequence = 0;
  private readonly seenResponses = new Set<string>();

  constructor(options: ConnectorOptions) {
    super(options, "settlement");
  }

  private dir(which: "in" | "out"): string {
    return join(this.options.settlement_dir ?? "settlement", this.operator, which);
  }

  /** Queues the line; the result comes with a later response file. */
  async charge(input: ChargeInput): Promise<Outcome> {
    if (!input.msisdn) return { status: "not_sent", reason: "invalid_input" };
    if (this.batch.some((l) => l.reference === input.attempt_id)) return { status: "pending", via: "file" };
    if (this.batch.length >= BATCH_LINES_MAX) await this.flush();
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "charge",
    });
    this.batch.push({
      line_no: this.batch.length + 1,
      msisdn: input.msisdn,
      amount: toDecimal(input.amount, input.currency),
      currency: input.currency,
      reference: input.attempt_id,
      description: input.description.slice(0, 100),
    });
    return { status: "pending", via: "file" };
  }

  /** Writes the queued lines as one request file (temporary name, then rename). */
  async flush(): Promise<string | undefined> {
    if (this.batch.length === 0) return undefined;
    const lines = this.batch;
    this.batch = [];
    await mkdir(this.dir("in"), { recursive: true });
    this.sequence += 1;
    const name = `REQ_${this.operator}_${Date.now()}_${String(this.sequence).padStart(6, "0")}.csv`;
    const text = writeRequestFile({
      sender: "centime",
      receiver: this.operator,
      sequence: this.sequence,
      created: new Date(),
      lines,
    });
    const started = performance.now();
    await writeFile(join(this.dir("in"), `${name}.part`), text);
    await rename(join(this.dir("in"), `${name}.part`), join(this.dir("in"), name));
    this.record(
      "upload",
      undefined,
      { file: name, lines: lines.length },
      { written: true },
      "uploaded",
      started,
    );
    return name;
  }

  private record(
    operation: string,
    attempt_id: string | undefined,
    request: unknown,
    response: unknown,
    outcome: string,
    started: number,
  ): void {
    try {
      this.options.log.record({
        operator: this.operator,
        protocol: "settlement",
        operation,
        attempt_id,
        request,
        response,
        outcome,
        latency_ms: Math.round(performance.now() - started),
      });
    } catch {}
  }

  /** Reads every request and response file and returns what is known per reference. */
  private async scan(): Promise<{ known: Map<string, Known>; fresh: ResponseLine[] }> {
    const known = new Map<string, Known>();
    const fresh: ResponseLine[] = [];
    const inDir = this.dir("in");
    const requestFiles: { path: string; state: "waiting" | "processed" }[] = [];
    for (const [d, state] of [
      [inDir, "waiting"],
      [join(inDir, "processed"), "processed"],
    ] as const) {
      for (const f of await readdir(d).catch(() => [] as string[]))
        if (f.endsWith(".csv")) requestFiles.push({ path: join(d, f), state });
    }
    for (const { path, state } of requestFiles) {
      try {
        const file = parseRequestFile(await readFile(path, "utf8"));
        for (const l of file.lines) known.set(l.reference, { request: { ...l, file: state } });
      } catch {}
    }
    const out = (await readdir(this.dir("out")).catch(() => [] as string[]))
      .filter((f) => f.endsWith(".csv"))
      .sort();
    for (const name of out) {
      const started = performance.now();
      let lines: ResponseLine[];
      try {
        lines = parseResponseFile(await readFile(join(this.dir("out"), name), "utf8")).lines;
      } catch (error) {
        // A file whose trailer does not add up is not trusted at all: its lines stay unknown.
        if (!this.seenResponses.has(name))
          this.record(
            "download",
            undefined,
            { file: name },
            { error: String(error).slice(0, 200) },
            "rejected_file",
            started,
          );
        this.seenResponses.add(name);
        continue;
      }
      for (const l of lines) {
        const k = known.get(l.reference) ?? {};
        k.response = l;
        known.set(l.reference, k);
      }
      if (!this.seenResponses.has(name)) {
        this.seenResponses.add(name);
        fresh.push(...lines);
        this.record("download", undefined, { file: name }, { lines: lines.length }, "downloaded", started);
      }
    }
    // A request file the operator has processed but whose line no response mentions: MISSING.
    for (const k of known.values())
      if (k.request?.file === "processed" && !k.response && out.length > 0) k.missing = true;
    return { known, fresh };
  }

  private lineOutcome(k: Known, asked: { amount?: bigint; currency?: string }): Outcome {
    const r = k.response;
    if (!r) {
      if (k.missing) return { status: "unknown", reason: "missing_in_settlement_file" };
      return { status: "pending", via: "file" };
    }
    if (r.record_status === "FAIL")
      return (
        declineFor(r.error_code, { ...SETTLEMENT_DECLINES, ...this.options.operator.decline_codes }) ?? {
          status: "unknown",
          reason: `unmapped_code:${r.error_code.slice(0, 20)}`,
        }
      );
    const askedCurrency = asked.currency ?? k.request?.currency ?? "";
    const askedAmount =
      asked.amount ?? (k.request ? fromDecimal(k.request.amount, askedCurrency) : undefined);
    return checkedSuccess({
      provider_reference: `${this.operator}:${r.reference}`,
      reported_amount: fromDecimal(r.amount, r.currency),
      reported_currency: r.currency,
      asked_amount: askedAmount ?? -1n,
      asked_currency: askedCurrency,
    });
  }

  /** Downloads new response files and raises one outcome event per newly reported line. */
  async collect(): Promise<number> {
    const { known, fresh } = await this.scan();
    for (const line of fresh) {
      const k = known.get(line.reference);
      if (!k) continue;
      const asked = this.memory.get(line.reference) ?? {};
      const outcome = this.lineOutcome(k, asked);
      this.record("match", line.reference, k.request, line, outcomeLabel(outcome), performance.now());
      this.events.emit({ type: "outcome", attempt_id: line.reference, outcome });
    }
    return fresh.length;
  }

  async sync(raw: SyncInput): Promise<Outcome> {
    const input = this.memory.complete(raw);
    if (this.batch.some((l) => l.reference === input.attempt_id)) return { status: "pending", via: "file" };
    const { known } = await this.scan();
    const k = known.get(input.attempt_id);
    if (!k) return { status: "not_sent", reason: "not_found" };
    const asked: { amount?: bigint; currency?: string } = {};
    if (input.amount !== undefined) asked.amount = input.amount;
    if (input.currency !== undefined) asked.currency = input.currency;
    const outcome = this.lineOutcome(k, asked);
    this.record(
      "sync",
      input.attempt_id,
      k.request,
      k.response ?? { missing: k.missing === true },
      outcomeLabel(outcome),
      performance.now(),
    );
    return outcome;
  }

  /** The missing lines of processed request files, for the reconciliation report. */
  async missing(): Promise<string[]> {
    const { known } = await this.scan();
    return [...known.entries()].filter(([, k]) => k.missing).map(([ref]) => ref);
  }
}
