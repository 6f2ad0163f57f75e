import { readCsv, writeCsv } from "../sdk/files.ts";

/**
 * The settlement file formats (modelled on telecom ILD request/response files, carrier-billing.md
 * §7): CSV with a header (H), detail lines (D) and a trailer (T) with totals. Pure functions.
 */

export interface RequestLine {
  line_no: number;
  msisdn: string;
  /** Decimal in the line's currency. */
  amount: string;
  currency: string;
  reference: string;
  description: string;
}

export interface RequestFile {
  sender: string;
  receiver: string;
  sequence: number;
  created: Date;
  lines: RequestLine[];
}

export type RecordStatus = "SUCCESS" | "FAIL";

export interface ResponseLine {
  line_no: number;
  msisdn: string;
  amount: string;
  currency: string;
  reference: string;
  record_status: RecordStatus;
  error_code: string;
}

export interface ResponseFile {
  sender: string;
  receiver: string;
  sequence: number;
  lines: ResponseLine[];
  total_rec_no: number;
  total_valid_rec_no: number;
  total_err_rec_no: number;
}

export const LINES_PER_FILE_MAX = 100_000;

function stamp(d: Date): [string, string] {
  const iso = d.toISOString();
  return [iso.slice(0, 10).replace(/-/g, ""), iso.slice(11, 19).replace(/:/g, "")];
}

/** Sums decimals exactly by scaling to a common number of fraction digits. */
export function sumDecimals(values: string[]): string {
  const scale = Math.max(0, ...values.map((v) => (v.split(".")[1] ?? "").length));
  let total = 0n;
  for (const v of values) {
    const [w = "0", f = ""] = v.split(".");
    total += BigInt(w + f.padEnd(scale, "0"));
  }
  if (scale === 0) return total.toString();
  const s = total.toString().padStart(scale + 1, "0");
  return `${s.slice(0, -scale)}.${s.slice(-scale)}`;
}

export function writeRequestFile(f: RequestFile): string {
  const [date, time] = stamp(f.created);
  return writeCsv([
    ["H", "REQ", f.sender, f.receiver, String(f.sequence).padStart(6, "0"), date, time],
    ...f.lines.map((l) => [
      "D",
      String(l.line_no),
      l.msisdn,
      l.amount,
      l.currency,
      l.reference,
      l.description,
    ]),
    ["T", sumDecimals(f.lines.map((l) => l.amount)), String(f.lines.length)],
  ]);
}

export function parseRequestFile(text: string): RequestFile {
  const rows = readCsv(text);
  const h = rows[0];
  const t = rows[rows.length - 1];
  if (h?.[0] !== "H" || h[1] !== "REQ" || !t || t[0] !== "T") throw new Error("not a request file");
  const lines = rows.slice(1, -1).map((r): RequestLine => {
    if (r[0] !== "D" || r.length < 7) throw new Error("bad detail record");
    return {
      line_no: Number(r[1]),
      msisdn: r[2] ?? "",
      amount: r[3] ?? "",
      currency: r[4] ?? "",
      reference: r[5] ?? "",
      description: r[6] ?? "",
    };
  });
  if (Number(t[2]) !== lines.length) throw new Error("trailer count does not match");
  return { sender: h[2] ?? "", receiver: h[3] ?? "", sequence: Number(h[4]), created: new Date(), lines };
}

export function writeResponseFile(
  f: Omit<ResponseFile, "total_rec_no" | "total_valid_rec_no" | "total_err_rec_no">,
  now: Date,
): string {
  const [date, time] = stamp(now);
  const valid = f.lines.filter((l) => l.record_status === "SUCCESS");
  return writeCsv([
    ["H", "RESP", f.sender, f.receiver, String(f.sequence).padStart(6, "0"), date, time],
    ...f.lines.map((l) => [
      "D",
      String(l.line_no),
      l.msisdn,
      l.amount,
      l.currency,
      l.reference,
      l.record_status,
      l.error_code,
    ]),
    [
      "T",
      sumDecimals(valid.map((l) => l.amount)),
      String(f.lines.length),
      String(valid.length),
      String(f.lines.length - valid.length),
    ],
  ]);
}

/** Throws on a file whose structure or trailer does not add up: such a file is not trusted at all. */
export function parseResponseFile(text: string): ResponseFile {
  const rows = readCsv(text);
  if (rows.length > LINES_PER_FILE_MAX + 2) throw new Error("too many records");
  const h = rows[0];
  const t = rows[rows.length - 1];
  if (h?.[0] !== "H" || h[1] !== "RESP" || !t || t[0] !== "T" || rows.length < 2)
    throw new Error("not a response file");
  const lines = rows.slice(1, -1).map((r): ResponseLine => {
    const status = r[6];
    if (r[0] !== "D" || r.length < 8 || (status !== "SUCCESS" && status !== "FAIL"))
      throw new Error("bad detail record");
    return {
      line_no: Number(r[1]),
      msisdn: r[2] ?? "",
      amount: r[3] ?? "",
      currency: r[4] ?? "",
      reference: r[5] ?? "",
      record_status: status,
      error_code: r[7] ?? "",
    };
  });
  const valid = lines.filter((l) => l.record_status === "SUCCESS").length;
  if (Number(t[2]) !== lines.length || Number(t[3]) !== valid || Number(t[4]) !== lines.length - valid)
    throw new Error("trailer does not match the records");
  return {
    sender: h[2] ?? "",
    receiver: h[3] ?? "",
    sequence: Number(h[4]),
    lines,
    total_rec_no: lines.length,
    total_valid_rec_no: valid,
    total_err_rec_no: lines.length - valid,
  };
}

/** Settlement error codes (this simulator's and the default decline map's) [U]. */
export const SETTLEMENT_ERRORS = {
  insufficient_funds: "E101",
  barred: "E102",
  limit_transaction: "E103",
  limit_month: "E104",
  invalid_currency: "E105",
  transient: "E106",
} as const;
