import type { Queryable } from "../db/db.ts";
import { loadRates, totalIn } from "./convert.ts";
import { INGEST_CURSOR } from "./ingest.ts";
import { PAYER_ABANDONED_FAILURES } from "./model.ts";
import { readCursor } from "./outbox.ts";
import type { Filter, Scope } from "./series.ts";

/**
 * The dashboard's tiles as one object: payments by status, acceptance (the payer-abandoned apart),
 * revenue per currency and converted, refunds, retries and what they recovered, declines by
 * reason, subscriptions, wallet and voucher activity, webhook delivery lag and the ingest's lag.
 */
export interface MoneyTotals {
  by_currency: { currency: string; amount: number }[];
  /** In the reporting currency; only currencies with a rate are in it. */
  total: number;
  currency: string;
  unconverted_currencies: string[];
}

export interface Summary {
  object: "analytics_summary";
  from: string;
  to: string;
  payments: { total: number; by_status: Record<string, number> };
  acceptance: { rate: number | null; accepted: number; declined: number; abandoned: number; open: number };
  revenue: MoneyTotals;
  refunds: { count: number; amount: MoneyTotals };
  retries: { attempts: number; succeeded: number; recovered: MoneyTotals };
  declines: { reason: string; count: number }[];
  subscriptions: {
    active: number;
    new: number;
    canceled: number;
    churn_rate: number | null;
    mrr: MoneyTotals;
  };
  wallets: { top_ups: number; spend: number };
  vouchers: { redemptions: number };
  webhooks: { pending: number; oldest_pending_ms: number | null; delivery_lag_p50_ms: number | null };
  ingest: { lag_ms: number; events_consumed: number };
}

function n(value: bigint | number | null | undefined): number {
  return Number(value ?? 0);
}

async function money(
  db: Queryable,
  scope: Scope,
  reportingCurrency: string,
  amounts: Map<string, bigint>,
): Promise<MoneyTotals> {
  const rates = await loadRates(db, scope, reportingCurrency);
  const total = totalIn(reportingCurrency, amounts, rates);
  return {
    by_currency: [...amounts.entries()]
      .filter(([, amount]) => amount !== 0n)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([currency, amount]) => ({ currency, amount: Number(amount) })),
    total: Number(total.amount),
    currency: reportingCurrency,
    unconverted_currencies: total.unconverted,
  };
}

/** Monthly equivalent of an ISO 8601 period's price: P1W → ×52/12, P1D → ×365/12, P1M → ×1. */
function monthlyFactor(period: string): { num: bigint; den: bigint } | null {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$/.exec(period);
  if (!m) return null;
  const days =
    BigInt(m[1] ?? 0) * 365n + BigInt(m[2] ?? 0) * 30n + BigInt(m[3] ?? 0) * 7n + BigInt(m[4] ?? 0);
  if (m[2] && !m[1] && !m[3] && !m[4]) return { num: 1n, den: BigInt(m[2]) };
  if (m[1] && !m[2] && !m[3] && !m[4]) return { num: 1n, den: BigInt(m[1]) * 12n };
  return days > 0n ? { num: 365n, den: days * 12n } : null;
}

export async function querySummary(
  db: Queryable,
  scope: Scope,
  range: { fromMs: number; toMs: number; nowMs: number },
  filters: Partial<Record<Filter, string>>,
  reportingCurrency: string,
): Promise<Summary> {
  const params: unknown[] = [scope.merchantId, scope.mode, new Date(range.fromMs), new Date(range.toMs)];
  const where = Object.entries(filters)
    .filter(([, v]) => v !== undefined)
    .map(([name, value]) => {
      params.push(value);
      return `and ${name === "status" || name === "type" ? "outcome" : name} = $${params.length}`;
    })
    .join(" ");
  const { rows } = await db.query<{
    metric: string;
    outcome: string;
    reason: string;
    currency: string;
    count: bigint;
    amount: bigint;
  }>(
    `select metric, outcome, reason, currency, sum(count)::bigint as count, sum(amount)::bigint as amount
       from analytics_minute
      where merchant_id = $1 and mode = $2 and bucket >= $3 and bucket < $4 ${where}
      group by 1, 2, 3, 4 having sum(count) <> 0 or sum(amount) <> 0`,
    params,
  );
  const byStatus: Record<string, number> = {};
  const revenue = new Map<string, bigint>();
  const refunded = new Map<string, bigint>();
  const recovered = new Map<string, bigint>();
  const declines = new Map<string, number>();
  let accepted = 0;
  let declined = 0;
  let abandoned = 0;
  let open = 0;
  let refunds = 0;
  let retries = 0;
  let retriesSucceeded = 0;
  let subscriptionsNew = 0;
  let subscriptionsCanceled = 0;
  let topUps = 0;
  let spend = 0;
  let redemptions = 0;
  const add = (map: Map<string, bigint>, currency: string, amount: bigint) =>
    map.set(currency, (map.get(currency) ?? 0n) + amount);
  for (const row of rows) {
    const count = n(row.count);
    if (row.metric === "payments") {
      byStatus[row.outcome] = (byStatus[row.outcome] ?? 0) + count;
      const walkedAway = PAYER_ABANDONED_FAILURES.has(row.reason);
      if (row.outcome === "succeeded") add(revenue, row.currency, row.amount);
      if (row.outcome === "succeeded" || row.outcome === "requires_capture") accepted += count;
      else if (row.outcome === "requires_action" || walkedAway) abandoned += count;
      else if (row.outcome === "failed") declined += count;
      else if (row.outcome === "processing") open += count;
      if (row.outcome === "failed" && !walkedAway)
        declines.set(row.reason, (declines.get(row.reason) ?? 0) + count);
    } else if (row.metric === "retries") {
      retries += count;
      if (row.outcome === "succeeded") {
        retriesSucceeded += count;
        add(recovered, row.currency, row.amount);
      }
    } else if (row.metric === "refunds" && row.outcome === "succeeded") {
      refunds += count;
      add(refunded, row.currency, row.amount);
    } else if (row.metric === "subscriptions") {
      if (row.outcome === "created") subscriptionsNew += count;
      if (row.outcome === "canceled") subscriptionsCanceled += count;
    } else if (row.metric === "events") {
      if (/^wallet[_.].*top_?up/.test(row.outcome)) topUps += count;
      else if (/^wallet[_.].*(spen|debit)/.test(row.outcome)) spend += count;
      else if (/^voucher[_.]?redemption/.test(row.outcome)) redemptions += count;
    }
  }

  const subscriptions = await db.query<{ period: string; currency: string; active: bigint; amount: bigint }>(
    `select period, currency, count(*)::bigint as active, sum(amount)::bigint as amount from subscriptions
      where merchant_id = $1 and mode = $2 and status in ('active', 'trialing', 'past_due')
      group by 1, 2`,
    [scope.merchantId, scope.mode],
  );
  let active = 0;
  const mrr = new Map<string, bigint>();
  for (const row of subscriptions.rows) {
    active += n(row.active);
    const factor = monthlyFactor(row.period);
    if (factor) add(mrr, row.currency, (row.amount * factor.num) / factor.den);
  }

  const webhooks = await db.query<{ pending: bigint; oldest: Date | null }>(
    `select count(*)::bigint as pending, min(created) as oldest from webhook_deliveries
      where merchant_id = $1 and mode = $2 and status = 'pending' and next_attempt_at <= $3`,
    [scope.merchantId, scope.mode, new Date(range.nowMs)],
  );
  const lag = await db.query<{ p50: number | null }>(
    `select percentile_disc(0.5) within group (order by extract(epoch from a.created - e.created) * 1000) as p50
       from webhook_attempts a join events e on e.id = a.event_id
      where a.merchant_id = $1 and a.mode = $2 and a.attempt_number = 1 and a.created >= $3 and a.created < $4`,
    [scope.merchantId, scope.mode, new Date(range.nowMs - 3_600_000), new Date(range.nowMs)],
  );
  const oldest = webhooks.rows[0]?.oldest;
  return {
    object: "analytics_summary",
    from: new Date(range.fromMs).toISOString(),
    to: new Date(range.toMs).toISOString(),
    payments: { total: Object.values(byStatus).reduce((a, b) => a + b, 0), by_status: byStatus },
    acceptance: {
      rate:
        accepted + declined === 0 ? null : Math.round((accepted / (accepted + declined)) * 10_000) / 10_000,
      accepted,
      declined,
      abandoned,
      open,
    },
    revenue: await money(db, scope, reportingCurrency, revenue),
    refunds: { count: refunds, amount: await money(db, scope, reportingCurrency, refunded) },
    retries: {
      attempts: retries,
      succeeded: retriesSucceeded,
      recovered: await money(db, scope, reportingCurrency, recovered),
    },
    declines: [...declines.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([reason, count]) => ({ reason, count })),
    subscriptions: {
      active,
      new: subscriptionsNew,
      canceled: subscriptionsCanceled,
      churn_rate:
        active + subscriptionsCanceled === 0
          ? null
          : Math.round((subscriptionsCanceled / (active + subscriptionsCanceled)) * 10_000) / 10_000,
      mrr: await money(db, scope, reportingCurrency, mrr),
    },
    wallets: { top_ups: topUps, spend },
    vouchers: { redemptions },
    webhooks: {
      pending: n(webhooks.rows[0]?.pending),
      oldest_pending_ms: oldest ? Math.max(0, range.nowMs - oldest.getTime()) : null,
      delivery_lag_p50_ms:
        lag.rows[0]?.p50 === null || lag.rows[0]?.p50 === undefined
          ? null
          : Math.round(Number(lag.rows[0].p50)),
    },
    ingest: await ingestLag(db, range.nowMs),
  };
}

/** How far the rollups trail the outbox: the age of the oldest event not yet consumed. */
export async function ingestLag(
  db: Queryable,
  nowMs: number,
): Promise<{ lag_ms: number; events_consumed: number }> {
  const cursor = await readCursor(db, INGEST_CURSOR);
  const { rows } = await db.query<{ created: Date }>(
    `select created from events where (txid, id) > ($1::xid8, $2::text) order by txid, id limit 1`,
    [cursor?.txid ?? "0", cursor?.eventId ?? ""],
  );
  const oldest = rows[0]?.created.getTime();
  return {
    lag_ms: oldest === undefined ? 0 : Math.max(0, nowMs - oldest),
    events_consumed: Number(cursor?.eventsConsumed ?? 0n),
  };
}
