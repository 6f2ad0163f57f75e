import type { Db } from "../db/db.ts";
import { availablePeriods } from "../ledger/index.ts";
import { iso } from "../platform/clock.ts";
import { ApiError, assert } from "../platform/errors.ts";
import { toJsonAmount } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";
import { toCsv } from "./csv.ts";

export const STATEMENT_LINES = ["payments", "refunds", "fees", "adjustments", "payouts", "other"] as const;
export type StatementLine = (typeof STATEMENT_LINES)[number];

/** Which statement line a ledger transfer code belongs to. */
export function lineOf(code: string): StatementLine {
  if (code === "payment_capture" || code === "wallet_capture") return "payments";
  if (code === "refund" || code.startsWith("refund_") || code === "payment_refunded") return "refunds";
  if (code.includes("fee")) return "fees";
  if (code === "manual_adjustment" || code.includes("adjustment")) return "adjustments";
  if (code.includes("payout")) return "payouts";
  return "other";
}

/** A month `YYYY-MM` as [start, end) in UTC milliseconds; a 400 naming `month` otherwise. */
export function monthRange(month: string, nowMs: number): { fromMs: number; toMs: number } {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
  if (!m) throw new ApiError("parameter_invalid", "month", "The month is written YYYY-MM, e.g. 2026-03.");
  const year = Number(m[1]);
  const index = Number(m[2]) - 1;
  const fromMs = Date.UTC(year, index, 1);
  const toMs = Date.UTC(year, index + 1, 1);
  if (fromMs > nowMs) throw new ApiError("parameter_invalid", "month", "This month has not started yet.");
  if (year < 2000) throw new ApiError("parameter_invalid", "month", "The month is after 2000-01.");
  return { fromMs, toMs };
}

/**
 * The merchant's monthly statement per currency, from its available balance on the ledger:
 * opening balance, the month's movements by line, closing balance. The closing balance is checked
 * against the ledger's own balance slots (now, less what moved after the month): a statement that
 * disagrees with the ledger is never shown.
 */
export async function monthlyStatement(db: Db, scope: AuthScope, month: string, nowMs: number) {
  const { fromMs, toMs } = monthRange(month, nowMs);
  const periods = await availablePeriods(db, scope, fromMs, toMs);
  const currencies = periods.map((p) => {
    const lines = new Map<StatementLine, { credits: bigint; debits: bigint; count: number }>(
      STATEMENT_LINES.map((l) => [l, { credits: 0n, debits: 0n, count: 0 }]),
    );
    for (const m of p.movements) {
      const line = lines.get(lineOf(m.code))!;
      line.credits += m.credits;
      line.debits += m.debits;
      line.count += m.count;
    }
    let closing = p.opening;
    for (const l of lines.values()) closing += l.credits - l.debits;
    assert(
      closing === p.balanceNow - p.after,
      `the statement's closing balance in ${p.currency} is the ledger's`,
    );
    return {
      currency: p.currency,
      account: p.accountId,
      opening_balance: toJsonAmount(p.opening),
      lines: STATEMENT_LINES.map((name) => {
        const l = lines.get(name)!;
        return {
          line: name,
          count: l.count,
          credits: toJsonAmount(l.credits),
          debits: toJsonAmount(l.debits),
          net: toJsonAmount(l.credits - l.debits),
        };
      }),
      by_code: p.movements
        .sort((a, b) => a.code.localeCompare(b.code))
        .map((m) => ({
          code: m.code,
          line: lineOf(m.code),
          count: m.count,
          credits: toJsonAmount(m.credits),
          debits: toJsonAmount(m.debits),
        })),
      closing_balance: toJsonAmount(closing),
    };
  });
  return {
    object: "statement" as const,
    month,
    from: iso(fromMs),
    to: iso(toMs),
    final: toMs <= nowMs,
    currencies,
  };
}

export type Statement = Awaited<ReturnType<typeof monthlyStatement>>;

export function statementCsv(statement: Statement): string {
  const rows: Array<Array<string | number>> = [];
  for (const c of statement.currencies) {
    rows.push([statement.month, c.currency, "opening_balance", "", "", "", c.opening_balance]);
    for (const l of c.lines)
      rows.push([statement.month, c.currency, l.line, l.count, l.credits, l.debits, l.net]);
    rows.push([statement.month, c.currency, "closing_balance", "", "", "", c.closing_balance]);
  }
  return toCsv(["month", "currency", "line", "count", "credits", "debits", "amount"], rows);
}
