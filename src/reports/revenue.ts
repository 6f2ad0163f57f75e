import { parsePhoneNumberFromString } from "libphonenumber-js";
import { getOperator } from "../connectors/index.ts";
import type { Currencies } from "../currencies/index.ts";
import type { Db } from "../db/db.ts";
import { iso } from "../platform/clock.ts";
import { idFloor } from "../platform/ids.ts";
import { toJsonAmount } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";
import { convertMinor } from "./convert.ts";
import { toCsv } from "./csv.ts";
import { type RateUsed, ratesInto } from "./rates.ts";

export const REVENUE_GROUPS = ["day", "product", "country", "operator", "currency"] as const;
export type RevenueGroup = (typeof REVENUE_GROUPS)[number];

export interface RevenueQuery {
  fromMs: number;
  toMs: number;
  groupBy: RevenueGroup;
  reportingCurrency: string;
  reportingDigits: number;
  /** IANA zone whose midnights start the days (group_by=day). */
  timeZone: string;
  nowMs: number;
}

interface Sum {
  group: string;
  currency: string;
  count: bigint;
  gross: bigint;
  refundCount: bigint;
  refunds: bigint;
}

/** What each grouping reads of a payment row (aliased `p`); country is resolved after the query. */
function groupSql(groupBy: RevenueGroup, dayOf: string): string {
  switch (groupBy) {
    case "day":
      // Grouped as dates and written as text after grouping (to_char per row costs twice as much).
      return `(${dayOf} at time zone $5)::date`;
    case "product":
      return "coalesce(p.effects ->> 'price', '')";
    case "operator":
      return "coalesce(p.payment_method ->> 'operator', '')";
    case "currency":
      return "''";
    case "country":
      // The operator's country, else the payer's number's (only for payments without an operator).
      return `coalesce(p.payment_method ->> 'operator', '') || '|' ||
        case when coalesce(p.payment_method ->> 'operator', '') = '' then coalesce(p.payment_method ->> 'msisdn', '') else '' end`;
  }
}

function countryOf(raw: string): string {
  const [operator = "", msisdn = ""] = raw.split("|");
  const fromOperator = operator ? getOperator(operator)?.country : undefined;
  if (fromOperator) return fromOperator.toUpperCase();
  return (msisdn && parsePhoneNumberFromString(msisdn)?.country) || "";
}

/**
 * Revenue of one merchant over [from, to): succeeded payments by when they were created (their
 * captured amount; wallet spends are left out, their money was counted at the top-up) and
 * succeeded refunds by when they were asked for, per group and original currency, and the same
 * converted into the reporting currency.
 */
export async function revenueReport(db: Db, currencies: Currencies, scope: AuthScope, query: RevenueQuery) {
  const params = [
    scope.merchantId,
    scope.mode,
    idFloor("pay", query.fromMs),
    idFloor("pay", query.toMs),
    // The zone is a parameter only where the SQL uses it (an unused one has no type).
    ...(query.groupBy === "day" ? [query.timeZone] : []),
  ];
  const label = query.groupBy === "day" ? "to_char(g, 'YYYY-MM-DD')" : "g";
  const payments = await db.query<{ g: string; currency: string; n: bigint; amount: bigint }>(
    `select ${label} as g, currency, n, amount from (
     select ${groupSql(query.groupBy, "p.created")} as g, p.currency, count(*)::bigint as n,
       coalesce(sum(p.amount_captured), 0)::bigint as amount
     from payments p
     where p.merchant_id = $1 and p.mode = $2 and p.id >= $3 and p.id < $4 and p.status = 'succeeded'
       and coalesce(p.payment_method ->> 'type', '') <> 'wallet'
     group by 1, 2) s`,
    params,
  );
  const refunds = await db.query<{ g: string; currency: string; n: bigint; amount: bigint }>(
    `select ${label} as g, currency, n, amount from (
     select ${groupSql(query.groupBy, "r.created")} as g, r.currency, count(*)::bigint as n,
       coalesce(sum(r.amount), 0)::bigint as amount
     from refunds r join payments p on p.id = r.payment_id
     where r.merchant_id = $1 and r.mode = $2 and r.id >= $3 and r.id < $4 and r.status = 'succeeded'
       and coalesce(p.payment_method ->> 'type', '') <> 'wallet'
     group by 1, 2) s`,
    [
      scope.merchantId,
      scope.mode,
      idFloor("re", query.fromMs),
      idFloor("re", query.toMs),
      ...(query.groupBy === "day" ? [query.timeZone] : []),
    ],
  );
  const sums = new Map<string, Sum>();
  const groupOf = (raw: string, currency: string) =>
    query.groupBy === "country" ? countryOf(raw) : query.groupBy === "currency" ? currency : raw;
  const sumOf = (raw: string, currency: string): Sum => {
    const group = groupOf(raw, currency);
    const key = `${group}\u0000${currency}`;
    let sum = sums.get(key);
    if (!sum) {
      sum = { group, currency, count: 0n, gross: 0n, refundCount: 0n, refunds: 0n };
      sums.set(key, sum);
    }
    return sum;
  };
  for (const r of payments.rows) {
    const s = sumOf(r.g, r.currency);
    s.count += BigInt(r.n);
    s.gross += BigInt(r.amount);
  }
  for (const r of refunds.rows) {
    const s = sumOf(r.g, r.currency);
    s.refundCount += BigInt(r.n);
    s.refunds += BigInt(r.amount);
  }
  const ordered = [...sums.values()].sort(
    (a, b) => a.group.localeCompare(b.group) || a.currency.localeCompare(b.currency),
  );
  // One rate per currency: the one valid at the period's end (or now, for a period not over yet).
  const atMs = Math.min(query.toMs - 1, query.nowMs);
  const rates = await ratesInto(
    db,
    currencies,
    scope,
    [...new Set(ordered.map((s) => s.currency))].sort(),
    query.reportingCurrency,
    query.reportingDigits,
    atMs,
  );
  const rows = ordered.map((s) => {
    const rate = rates.get(s.currency);
    const gross = rate ? convertMinor(s.gross, rate.factor) : null;
    const refunded = rate ? convertMinor(s.refunds, rate.factor) : null;
    return {
      group: s.group,
      currency: s.currency,
      count: Number(s.count),
      gross: toJsonAmount(s.gross),
      refund_count: Number(s.refundCount),
      refunds: toJsonAmount(s.refunds),
      net: toJsonAmount(s.gross - s.refunds),
      converted:
        gross === null || refunded === null
          ? null
          : {
              gross: toJsonAmount(gross),
              refunds: toJsonAmount(refunded),
              net: toJsonAmount(gross - refunded),
            },
    };
  });
  const totals = new Map<
    string,
    { group: string; count: number; gross: bigint; refunds: bigint; complete: boolean }
  >();
  for (const r of rows) {
    const t = totals.get(r.group) ?? { group: r.group, count: 0, gross: 0n, refunds: 0n, complete: true };
    t.count += r.count;
    if (r.converted) {
      t.gross += BigInt(r.converted.gross);
      t.refunds += BigInt(r.converted.refunds);
    } else t.complete = false;
    totals.set(r.group, t);
  }
  const all = { count: 0, gross: 0n, refunds: 0n, complete: true };
  for (const t of totals.values()) {
    all.count += t.count;
    all.gross += t.gross;
    all.refunds += t.refunds;
    all.complete &&= t.complete;
  }
  return {
    object: "revenue_report" as const,
    from: iso(query.fromMs),
    to: iso(query.toMs),
    group_by: query.groupBy,
    time_zone: query.timeZone,
    reporting_currency: query.reportingCurrency,
    rows,
    totals: [...totals.values()].map((t) => ({
      group: t.group,
      count: t.count,
      gross: toJsonAmount(t.gross),
      refunds: toJsonAmount(t.refunds),
      net: toJsonAmount(t.gross - t.refunds),
      complete: t.complete,
    })),
    total: {
      count: all.count,
      gross: toJsonAmount(all.gross),
      refunds: toJsonAmount(all.refunds),
      net: toJsonAmount(all.gross - all.refunds),
      complete: all.complete,
    },
    rates: [...rates.values()].flatMap((r) => (r?.used ? [r.used] : [])) as RateUsed[],
    unconverted_currencies: [...rates].flatMap(([currency, r]) => (r ? [] : [currency])),
  };
}

export type RevenueReport = Awaited<ReturnType<typeof revenueReport>>;

export function revenueCsv(report: RevenueReport): string {
  return toCsv(
    [
      "group",
      "currency",
      "count",
      "gross",
      "refund_count",
      "refunds",
      "net",
      "reporting_currency",
      "converted_gross",
      "converted_refunds",
      "converted_net",
    ],
    report.rows.map((r) => [
      r.group,
      r.currency,
      r.count,
      r.gross,
      r.refund_count,
      r.refunds,
      r.net,
      report.reporting_currency,
      r.converted?.gross ?? null,
      r.converted?.refunds ?? null,
      r.converted?.net ?? null,
    ]),
  );
}
