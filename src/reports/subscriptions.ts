import type { Db } from "../db/db.ts";
import { iso } from "../platform/clock.ts";
import { toJsonSum } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";
import { toCsv } from "./csv.ts";

const DAY_MS = 86_400_000;

/**
 * Per UTC day of [from, to): subscriptions started (created that day), canceled (canceled that
 * day) and active at the day's end (created before it, not canceled by then, and not left
 * `incomplete`: never paid for).
 */
export async function subscriptionsReport(db: Db, scope: AuthScope, fromMs: number, toMs: number) {
  const { rows } = await db.query<{ created: Date; canceled_at: Date | null }>(
    `select created, canceled_at from subscriptions
     where merchant_id = $1 and mode = $2 and created < $3 and status <> 'incomplete'
       and (canceled_at is null or canceled_at >= $4)`,
    [scope.merchantId, scope.mode, new Date(toMs), new Date(fromMs)],
  );
  const days: Array<{ day: string; started: number; canceled: number; active: number }> = [];
  for (let start = fromMs; start < toMs; start += DAY_MS) {
    const end = Math.min(start + DAY_MS, toMs);
    let started = 0;
    let canceled = 0;
    let active = 0;
    for (const r of rows) {
      const created = r.created.getTime();
      const ended = r.canceled_at?.getTime() ?? null;
      if (created >= start && created < end) started++;
      if (ended !== null && ended >= start && ended < end) canceled++;
      if (created < end && (ended === null || ended >= end)) active++;
    }
    days.push({ day: iso(start).slice(0, 10), started, canceled, active });
  }
  return { object: "subscriptions_report" as const, from: iso(fromMs), to: iso(toMs), data: days };
}

export function subscriptionsCsv(report: Awaited<ReturnType<typeof subscriptionsReport>>): string {
  return toCsv(
    ["day", "started", "canceled", "active"],
    report.data.map((d) => [d.day, d.started, d.canceled, d.active]),
  );
}

/**
 * What the merchant owes in kind at `nowMs`: the face value of money vouchers activated, not yet
 * redeemed nor voided, whose batch has not expired, per currency; and what customers' wallets hold
 * of live grants (not expired), paid and promotional apart, per currency.
 */
/** A batch's line as the vouchers folder reports it (outstanding from the ledger). */
export interface BatchLiability {
  object: "voucher_liability";
  batch: string;
  currency: string;
  value: number;
  cards_activated: number;
  cards_redeemed: number;
  cards_voided: number;
  /** Sums: a bigint past 2^53 (`toJsonSum`). */
  breakage_recognized: number | bigint;
  outstanding: number | bigint;
  closed: boolean;
}

export async function voucherLiability(
  db: Db,
  scope: AuthScope,
  nowMs: number,
  batches: readonly BatchLiability[],
) {
  const now = new Date(nowMs);
  const vouchers = await db.query<{ currency: string; n: bigint; amount: bigint }>(
    `select b.value_currency as currency, count(*)::bigint as n, coalesce(sum(b.value_amount), 0)::bigint as amount
     from vouchers v join voucher_batches b on b.id = v.batch_id
     where b.merchant_id = $1 and b.mode = $2 and v.status = 'active' and b.value_amount is not null
       and (b.expires_at is null or b.expires_at > $3)
     group by b.value_currency order by b.value_currency`,
    [scope.merchantId, scope.mode, now],
  );
  const wallets = await db.query<{ currency: string; category: string; n: bigint; amount: bigint }>(
    `select currency, category, count(*)::bigint as n, coalesce(sum(remaining), 0)::bigint as amount
     from wallet_grants
     where merchant_id = $1 and mode = $2 and status = 'active' and remaining > 0
       and (expires_at is null or expires_at > $3)
     group by currency, category order by currency, category`,
    [scope.merchantId, scope.mode, now],
  );
  const byCurrency = new Map<
    string,
    { currency: string; paid: bigint; promotional: bigint; paidGrants: number; promotionalGrants: number }
  >();
  for (const w of wallets.rows) {
    const entry = byCurrency.get(w.currency) ?? {
      currency: w.currency,
      paid: 0n,
      promotional: 0n,
      paidGrants: 0,
      promotionalGrants: 0,
    };
    if (w.category === "paid") {
      entry.paid += BigInt(w.amount);
      entry.paidGrants += Number(w.n);
    } else {
      entry.promotional += BigInt(w.amount);
      entry.promotionalGrants += Number(w.n);
    }
    byCurrency.set(w.currency, entry);
  }
  const outstanding = new Map<string, bigint>();
  for (const b of batches)
    outstanding.set(b.currency, (outstanding.get(b.currency) ?? 0n) + BigInt(b.outstanding));
  const currencies = [...new Set([...vouchers.rows.map((v) => v.currency), ...outstanding.keys()])].sort();
  return {
    object: "list" as const,
    data: [...batches],
    has_more: false,
    as_of: iso(nowMs),
    vouchers: currencies.map((currency) => {
      const v = vouchers.rows.find((r) => r.currency === currency);
      return {
        currency,
        count: v ? Number(v.n) : 0,
        amount: toJsonSum(v ? BigInt(v.amount) : 0n),
        outstanding: toJsonSum(outstanding.get(currency) ?? 0n),
      };
    }),
    wallets: [...byCurrency.values()].map((w) => ({
      currency: w.currency,
      paid: toJsonSum(w.paid),
      paid_grants: w.paidGrants,
      promotional: toJsonSum(w.promotional),
      promotional_grants: w.promotionalGrants,
    })),
  };
}

export function liabilityCsv(report: Awaited<ReturnType<typeof voucherLiability>>): string {
  return toCsv(
    ["kind", "currency", "count", "amount"],
    [
      ...report.vouchers.map((v) => ["vouchers_face_value", v.currency, v.count, v.amount] as const),
      ...report.vouchers.map((v) => ["vouchers_outstanding", v.currency, null, v.outstanding] as const),
      ...report.wallets.flatMap((w) => [
        ["wallet_paid", w.currency, w.paid_grants, w.paid] as const,
        ["wallet_promotional", w.currency, w.promotional_grants, w.promotional] as const,
      ]),
    ],
  );
}
