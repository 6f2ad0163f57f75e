import type { Queryable } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import { type CurrencyCode, isCurrency, minorDigits } from "../platform/money.ts";
import { type DistributionMetric, percentile } from "./distributions.ts";
import { GRAIN_MS, type Grain } from "./facts.ts";
import { type AnalyticsScope, period } from "./queries.ts";

/**
 * The metrics beyond payments' outcomes (issue 13): subscriptions (active, new, canceled,
 * churn, MRR), provider latency and errors, webhook delivery lag, and totals in a reporting
 * currency at recorded daily rates. All read the rollups and distributions, never the sources.
 */

function safe(value: bigint | number | string): number {
  const n = typeof value === "bigint" ? value : BigInt(value);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`sum ${n} exceeds the JSON-safe range`);
  }
  return Number(n);
}

export interface SubscriptionsQuery {
  fromMs: number;
  toMs: number;
  granularity: Grain;
  filters: Partial<Record<"operator" | "country" | "method" | "product", string>>;
}

export interface SubscriptionPoint {
  t: string;
  /** Not canceled at the bucket's end. */
  active: number;
  new: number;
  canceled: number;
  /** canceled / active at the bucket's start, in basis points; null when none was active. */
  churn_bp: number | null;
  /** Monthly recurring revenue at the bucket's end, minor units of the series' currency. */
  mrr: number;
}

export interface SubscriptionsAnalytics {
  object: "analytics_subscriptions";
  from: string;
  to: string;
  granularity: Grain;
  series: Array<{ key: { currency: string }; points: SubscriptionPoint[] }>;
}

function rollupWhere(scope: AnalyticsScope, filters: Record<string, string | undefined>, first: number) {
  const params: unknown[] = [];
  const where: string[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace("?", `$${first + params.length}`));
  };
  if (scope.merchantId !== null) add("merchant_id = ?", scope.merchantId);
  for (const [name, value] of Object.entries(filters)) if (value !== undefined) add(`${name} = ?`, value);
  return { params, where };
}

/**
 * Subscriptions over time, per currency. `active` and `mrr` are levels: everything created and
 * not canceled since the rollups began (whole days before the period, then the grain's buckets).
 */
export async function subscriptionsAnalytics(
  db: Queryable,
  scope: AnalyticsScope,
  query: SubscriptionsQuery,
): Promise<SubscriptionsAnalytics> {
  const { fromMs, toMs } = period(query.fromMs, query.toMs, query.granularity);
  const dayFloor = Math.floor(fromMs / GRAIN_MS.day) * GRAIN_MS.day;
  const metricFilter = "metric in ('subscription_created', 'subscription_canceled')";
  /** Rows of one grain in [from, to), with the scope and filters; `$1`… are the leading params. */
  const select = (columns: string, grain: Grain, from: number, to: number, groupBy: string) => {
    const head: unknown[] = [scope.mode, grain, new Date(from), new Date(to)];
    const extra = rollupWhere(scope, query.filters, head.length);
    return db.query<{ bucket: Date; currency: string; metric: string; count: bigint; amount: bigint }>(
      `select ${columns} from analytics_rollups
        where mode = $1 and grain = $2 and bucket >= $3 and bucket < $4 and ${metricFilter}
              ${extra.where.map((w) => `and ${w}`).join(" ")}
        group by ${groupBy}`,
      [...head, ...extra.params],
    );
  };
  const totals = "currency, metric, sum(count)::int8 as count, sum(amount)::int8 as amount";
  // The level at the period's start: whole days before it, then its own grain up to it.
  const before = [
    ...(await select(totals, "day", 0, dayFloor, "currency, metric")).rows,
    ...(dayFloor < fromMs
      ? (await select(totals, query.granularity, dayFloor, fromMs, "currency, metric")).rows
      : []),
  ];
  const base = new Map<string, { active: bigint; mrr: bigint }>();
  for (const r of before) {
    const b = base.get(r.currency) ?? { active: 0n, mrr: 0n };
    const sign = r.metric === "subscription_created" ? 1n : -1n;
    b.active += sign * BigInt(r.count);
    b.mrr += sign * BigInt(r.amount);
    base.set(r.currency, b);
  }
  const { rows } = await select(
    `bucket, ${totals}`,
    query.granularity,
    fromMs,
    toMs,
    "bucket, currency, metric",
  );
  const step = GRAIN_MS[query.granularity];
  const moves = new Map<
    string,
    Map<number, { new: bigint; canceled: bigint; mrrIn: bigint; mrrOut: bigint }>
  >();
  for (const r of rows) {
    const byBucket = moves.get(r.currency) ?? new Map();
    moves.set(r.currency, byBucket);
    const t = new Date(r.bucket).getTime();
    const m = byBucket.get(t) ?? { new: 0n, canceled: 0n, mrrIn: 0n, mrrOut: 0n };
    if (r.metric === "subscription_created") {
      m.new += BigInt(r.count);
      m.mrrIn += BigInt(r.amount);
    } else {
      m.canceled += BigInt(r.count);
      m.mrrOut += BigInt(r.amount);
    }
    byBucket.set(t, m);
  }
  const currencies = [...new Set([...base.keys(), ...moves.keys()])].sort();
  const series = currencies.map((currency) => {
    let { active, mrr } = base.get(currency) ?? { active: 0n, mrr: 0n };
    const points: SubscriptionPoint[] = [];
    for (let t = fromMs; t < toMs; t += step) {
      const m = moves.get(currency)?.get(t) ?? { new: 0n, canceled: 0n, mrrIn: 0n, mrrOut: 0n };
      const atStart = active;
      active += m.new - m.canceled;
      mrr += m.mrrIn - m.mrrOut;
      points.push({
        t: new Date(t).toISOString(),
        active: safe(active),
        new: safe(m.new),
        canceled: safe(m.canceled),
        churn_bp: atStart > 0n ? Number((m.canceled * 10_000n) / atStart) : null,
        mrr: safe(mrr),
      });
    }
    return { key: { currency }, points };
  });
  return {
    object: "analytics_subscriptions",
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    granularity: query.granularity,
    series,
  };
}

export interface DistributionSummary {
  provider: string;
  operator: string;
  count: number;
  errors: number;
  /** errors / count in basis points. */
  error_rate_bp: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
}

/**
 * A distribution over [from, to), summarized per provider and operator (webhook lag: one row).
 * Percentiles are nearest-rank over values rounded up to two significant digits.
 */
export async function distributionSummary(
  db: Queryable,
  scope: AnalyticsScope,
  metric: DistributionMetric,
  query: { fromMs: number; toMs: number; granularity: Grain; operator?: string; provider?: string },
): Promise<{ from: string; to: string; data: DistributionSummary[] }> {
  const { fromMs, toMs } = period(query.fromMs, query.toMs, query.granularity);
  const params: unknown[] = [query.granularity, scope.mode, new Date(fromMs), new Date(toMs), metric];
  const where = ["grain = $1", "mode = $2", "bucket >= $3", "bucket < $4", "metric = $5"];
  const add = (column: string, value: string | null | undefined) => {
    if (value === undefined || value === null) return;
    params.push(value);
    where.push(`${column} = $${params.length}`);
  };
  add("merchant_id", scope.merchantId);
  add("operator", query.operator);
  add("provider", query.provider);
  const { rows } = await db.query<{
    provider: string;
    operator: string;
    le_ms: number;
    count: bigint;
    errors: bigint;
  }>(
    `select provider, operator, le_ms, sum(count)::int8 as count, sum(errors)::int8 as errors
       from analytics_distributions where ${where.join(" and ")}
      group by provider, operator, le_ms order by provider, operator, le_ms`,
    params,
  );
  const groups = new Map<string, Array<{ le_ms: number; count: number; errors: number }>>();
  for (const r of rows) {
    const key = `${r.provider}\u0000${r.operator}`;
    groups.set(key, [
      ...(groups.get(key) ?? []),
      { le_ms: r.le_ms, count: safe(r.count), errors: safe(r.errors) },
    ]);
  }
  const data = [...groups].map(([key, histogram]) => {
    const [provider, operator] = key.split("\u0000") as [string, string];
    const count = histogram.reduce((n, h) => n + h.count, 0);
    const errors = histogram.reduce((n, h) => n + h.errors, 0);
    return {
      provider,
      operator,
      count,
      errors,
      error_rate_bp: count === 0 ? null : Math.round((errors * 10_000) / count),
      p50_ms: percentile(histogram, 0.5),
      p99_ms: percentile(histogram, 0.99),
    };
  });
  return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), data };
}

// ---- Reporting currency ----

const RATE_PATTERN = /^\d{1,12}(\.\d{1,12})?$/;

export interface ExchangeRate {
  object: "analytics_exchange_rate";
  from_currency: string;
  to_currency: string;
  /** The UTC day from which the rate applies (until a later day has its own). */
  day: string;
  rate: string;
}

function currencyOf(code: string, param: string): CurrencyCode {
  if (!isCurrency(code))
    throw new ApiError("parameter_invalid", param, `Unknown ISO 4217 currency: '${code}'.`);
  return code;
}

export async function setExchangeRate(
  db: Queryable,
  input: { from_currency: string; to_currency: string; day: string; rate: string },
  nowMs: number,
): Promise<ExchangeRate> {
  currencyOf(input.from_currency, "from_currency");
  currencyOf(input.to_currency, "to_currency");
  if (input.from_currency === input.to_currency) {
    throw new ApiError(
      "parameter_invalid",
      "to_currency",
      "A rate converts between two different currencies.",
    );
  }
  if (!RATE_PATTERN.test(input.rate) || !/[1-9]/.test(input.rate)) {
    throw new ApiError("parameter_invalid", "rate", "A positive decimal such as 1.0842 (never a float).");
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(input.day) || Number.isNaN(Date.parse(`${input.day}T00:00:00Z`))) {
    throw new ApiError("parameter_invalid", "day", "A date such as 2026-11-30.");
  }
  await db.query(
    `insert into analytics_exchange_rates (from_currency, to_currency, day, rate, created) values ($1, $2, $3, $4, $5)
     on conflict (from_currency, to_currency, day) do update set rate = excluded.rate, created = excluded.created`,
    [input.from_currency, input.to_currency, input.day, input.rate, new Date(nowMs)],
  );
  return { object: "analytics_exchange_rate", ...input };
}

export async function listExchangeRates(db: Queryable, to?: string): Promise<ExchangeRate[]> {
  const { rows } = await db.query<{ from_currency: string; to_currency: string; day: string; rate: string }>(
    `select from_currency, to_currency, to_char(day, 'YYYY-MM-DD') as day, rate from analytics_exchange_rates
      where ($1::text is null or to_currency = $1) order by to_currency, from_currency, day desc limit 1000`,
    [to ?? null],
  );
  return rows.map((r) => ({ object: "analytics_exchange_rate", ...r }));
}

/** Target minor units for `amount` source minor units at a decimal rate, rounded half up. */
export function convertMinor(amount: bigint, rate: string, fromDigits: number, toDigits: number): bigint {
  const [whole, fraction = ""] = rate.split(".");
  let numerator = BigInt(whole! + fraction) * amount;
  let denominator = 10n ** BigInt(fraction.length);
  const shift = toDigits - fromDigits;
  if (shift >= 0) numerator *= 10n ** BigInt(shift);
  else denominator *= 10n ** BigInt(-shift);
  const negative = numerator < 0n;
  const abs = negative ? -numerator : numerator;
  const rounded = (abs * 2n + denominator) / (2n * denominator);
  return negative ? -rounded : rounded;
}

export interface RateUsed {
  from_currency: string;
  day: string;
  rate: string;
  /** The day the rate was set for (the same day, or the newest one before it). */
  rate_day: string;
}

/**
 * The rate for each (currency, UTC day) asked: the newest set for that day or before. A missing
 * one is a 400 naming `reporting_currency`: a total across currencies is never guessed.
 */
export async function ratesFor(
  db: Queryable,
  to: string,
  needs: ReadonlyArray<{ currency: string; day: string }>,
): Promise<Map<string, RateUsed>> {
  const { rates, missing } = await findRates(db, to, needs);
  if (missing[0]) throw missingRate(missing[0], to);
  return rates;
}

function missingRate(n: { currency: string; day: string }, to: string): ApiError {
  return new ApiError(
    "parameter_invalid",
    "reporting_currency",
    `No exchange rate from ${n.currency} to ${to} on or before ${n.day} (POST /v1/analytics/exchange_rates).`,
  );
}

/** The rates found for each (currency, UTC day) asked, and the ones that have none. */
export async function findRates(
  db: Queryable,
  to: string,
  needs: ReadonlyArray<{ currency: string; day: string }>,
): Promise<{ rates: Map<string, RateUsed>; missing: Array<{ currency: string; day: string }> }> {
  const out = new Map<string, RateUsed>();
  const wanted = needs.filter((n) => n.currency !== to);
  if (wanted.length === 0) return { rates: out, missing: [] };
  const { rows } = await db.query<{ from_currency: string; day: string; rate: string; rate_day: string }>(
    `select w.from_currency, d.day, r.rate, to_char(r.day, 'YYYY-MM-DD') as rate_day
       from unnest($1::text[], $2::date[]) as w(from_currency, day_date)
       cross join lateral (select to_char(w.day_date, 'YYYY-MM-DD') as day) d
       join lateral (
         select rate, day from analytics_exchange_rates x
          where x.from_currency = w.from_currency and x.to_currency = $3 and x.day <= w.day_date
          order by x.day desc limit 1) r on true`,
    [wanted.map((n) => n.currency), wanted.map((n) => n.day), to],
  );
  for (const r of rows) out.set(`${r.from_currency}/${r.day}`, r);
  return { rates: out, missing: wanted.filter((n) => !out.has(`${n.currency}/${n.day}`)) };
}

export interface Reporting {
  currency: string;
  /** Per key of the series without its currency: amounts converted at each point's day rate, summed. */
  totals: Array<{ key: Record<string, string>; count: number; amount: number }>;
  rates: RateUsed[];
}

/** Converts every point of per-currency series into the reporting currency and sums by key. */
export async function toReporting(
  db: Queryable,
  reportingCurrency: string,
  series: ReadonlyArray<{
    key: Record<string, string>;
    points: ReadonlyArray<{ t: string; count: number; amount: number }>;
  }>,
): Promise<Reporting> {
  const result = await reportingOrMissing(db, reportingCurrency, series);
  if ("missing" in result) throw missingRate(result.missing[0]!, result.currency);
  return result;
}

/**
 * Like `toReporting`, but a missing rate is an answer, not an error: the (currency, day) pairs
 * without one, so a page can say which instead of showing a total.
 */
export async function reportingOrMissing(
  db: Queryable,
  reportingCurrency: string,
  series: ReadonlyArray<{
    key: Record<string, string>;
    points: ReadonlyArray<{ t: string; count: number; amount: number }>;
  }>,
): Promise<Reporting | { currency: string; missing: Array<{ currency: string; day: string }> }> {
  const target = currencyOf(reportingCurrency, "reporting_currency");
  const needs = new Map<string, { currency: string; day: string }>();
  for (const s of series) {
    const currency = s.key.currency ?? "";
    for (const p of s.points)
      needs.set(`${currency}/${p.t.slice(0, 10)}`, { currency, day: p.t.slice(0, 10) });
  }
  for (const n of needs.values()) {
    if (n.currency !== target) currencyOf(n.currency, "reporting_currency");
  }
  const { rates, missing } = await findRates(db, target, [...needs.values()]);
  if (missing.length > 0) return { currency: target, missing };
  const totals = new Map<string, { key: Record<string, string>; count: number; amount: bigint }>();
  for (const s of series) {
    const currency = s.key.currency ?? "";
    const { currency: _c, ...rest } = s.key;
    const id = JSON.stringify(rest);
    const total = totals.get(id) ?? { key: rest, count: 0, amount: 0n };
    totals.set(id, total);
    for (const p of s.points) {
      total.count += p.count;
      if (currency === target) total.amount += BigInt(p.amount);
      else {
        const rate = rates.get(`${currency}/${p.t.slice(0, 10)}`)!;
        total.amount += convertMinor(
          BigInt(p.amount),
          rate.rate,
          minorDigits(currency as CurrencyCode),
          minorDigits(target),
        );
      }
    }
  }
  return {
    currency: target,
    totals: [...totals.values()].map((t) => ({ key: t.key, count: t.count, amount: safe(t.amount) })),
    rates: [...rates.values()].sort((a, b) =>
      `${a.from_currency}${a.day}`.localeCompare(`${b.from_currency}${b.day}`),
    ),
  };
}
