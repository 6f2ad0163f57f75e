import type { Queryable } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import { loadRates, totalIn } from "./convert.ts";
import { ROLLUP_TABLES } from "./ingest.ts";
import { GRANULARITY_MS, type Granularity, type Metric } from "./model.ts";

/**
 * Time series from the rollups: counts and amounts per bucket, grouped by the dimensions asked
 * for. Amounts of different currencies are never added: without `currency` in the grouping, each
 * point's amount is converted into the reporting currency first, and currencies without a rate
 * are named in `unconverted_currencies` and left out of the amounts (never of the counts).
 */
export const GROUP_BY = [
  "status",
  "reason",
  "type",
  "operator",
  "country",
  "app",
  "method",
  "currency",
  "product",
  "step",
] as const;
export type GroupBy = (typeof GROUP_BY)[number];

/** API names over rollup columns: a payment's status and an event's type are both its outcome. */
const COLUMN: Record<GroupBy, string> = {
  status: "outcome",
  type: "outcome",
  reason: "reason",
  operator: "operator",
  country: "country",
  app: "app",
  method: "method",
  currency: "currency",
  product: "product",
  step: "step",
};

export const FILTERS = [
  "app",
  "country",
  "operator",
  "method",
  "currency",
  "product",
  "status",
  "type",
] as const;
export type Filter = (typeof FILTERS)[number];

export interface Scope {
  merchantId: string;
  mode: string;
}

export interface SeriesQuery {
  metric: Metric;
  fromMs: number;
  toMs: number;
  granularity: Granularity;
  groupBy: readonly GroupBy[];
  filters: Partial<Record<Filter, string>>;
  timeZone: string;
  reportingCurrency: string;
}

export interface Point {
  t: string;
  count: number;
  amount: number;
}

export interface Series {
  object: "analytics";
  metric: Metric;
  from: string;
  to: string;
  granularity: Granularity;
  time_zone: string;
  group_by: GroupBy[];
  /** The currency of `amount` when the grouping has no `currency`. */
  currency: string | null;
  unconverted_currencies: string[];
  series: { key: Record<string, string>; points: Point[] }[];
}

export const POINTS_MAX = 5000;

/** Where the bucket boundaries fall: UTC rows, or hours regrouped by the merchant's local day. */
function bucketSource(granularity: Granularity, timeZone: string): { table: string; expression: string } {
  if (granularity === "day" && timeZone !== "UTC") {
    return {
      table: ROLLUP_TABLES.hour,
      expression: "(date_trunc('day', bucket at time zone $6) at time zone $6)",
    };
  }
  return { table: ROLLUP_TABLES[granularity], expression: "bucket" };
}

function toJsonNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new Error(`total ${value} exceeds the JSON-safe range`);
  }
  return Number(value);
}

/** The bucket starts of [from, to) in the zone, for zero-filled points. */
function bucketStarts(query: SeriesQuery): number[] {
  const step = GRANULARITY_MS[query.granularity];
  const starts: number[] = [];
  if (query.granularity === "day" && query.timeZone !== "UTC") {
    // Local midnights: step a day at a time and let Intl find each midnight's offset.
    const format = new Intl.DateTimeFormat("en-CA", {
      timeZone: query.timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    });
    const seen = new Set<number>();
    for (let ms = query.fromMs - step; ms < query.toMs + step; ms += step / 2) {
      const midnight = localMidnight(format.format(new Date(ms)), query.timeZone);
      if (midnight >= query.fromMs && midnight < query.toMs && !seen.has(midnight)) {
        seen.add(midnight);
        starts.push(midnight);
      }
    }
    return starts.sort((a, b) => a - b);
  }
  for (let ms = Math.ceil(query.fromMs / step) * step; ms < query.toMs; ms += step) starts.push(ms);
  return starts;
}

/** The instant of 00:00 local time on a `YYYY-MM-DD` date in a zone. */
export function localMidnight(date: string, timeZone: string): number {
  const guess = Date.parse(`${date}T00:00:00Z`);
  const offsetAt = (ms: number) => {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    }).formatToParts(new Date(ms));
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
    return (
      Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second")) - ms
    );
  };
  const first = guess - offsetAt(guess);
  return guess - offsetAt(first);
}

export async function querySeries(db: Queryable, scope: Scope, query: SeriesQuery): Promise<Series> {
  const starts = bucketStarts(query);
  if (starts.length > POINTS_MAX) {
    throw new ApiError(
      "parameter_invalid",
      "granularity",
      `That range has ${starts.length} ${query.granularity}s; ask for at most ${POINTS_MAX} points (a coarser granularity).`,
    );
  }
  const { table, expression } = bucketSource(query.granularity, query.timeZone);
  const params: unknown[] = [
    scope.merchantId,
    scope.mode,
    query.metric,
    new Date(query.fromMs),
    new Date(query.toMs),
  ];
  params.push(query.timeZone);
  const where: string[] = [];
  for (const [name, value] of Object.entries(query.filters)) {
    if (value === undefined) continue;
    params.push(value);
    where.push(`${COLUMN[name as Filter]} = $${params.length}`);
  }
  const groups = query.groupBy.map((g) => COLUMN[g]);
  const { rows } = await db.query<
    Record<string, unknown> & { t: Date; count: bigint; amount: bigint; currency: string }
  >(
    `select ${expression} as t, ${[...groups.map((c, i) => `${c} as g${i}`), "currency"].join(", ")},
            sum(count)::bigint as count, sum(amount)::bigint as amount
       from ${table}
      where merchant_id = $1 and mode = $2 and metric = $3 and bucket >= $4 and bucket < $5
        and $6::text is not null ${where.map((w) => `and ${w}`).join(" ")}
      group by 1, ${[...groups.map((_c, i) => `g${i}`), "currency"].join(", ")}
     having sum(count) <> 0 or sum(amount) <> 0`,
    params,
  );
  const convert = !query.groupBy.includes("currency");
  const rates = convert ? await loadRates(db, scope, query.reportingCurrency) : new Map();
  const unconverted = new Set<string>();
  const bySeries = new Map<
    string,
    { key: Record<string, string>; buckets: Map<number, { count: bigint; amounts: Map<string, bigint> }> }
  >();
  for (const row of rows) {
    const key = Object.fromEntries(query.groupBy.map((g, i) => [g, String(row[`g${i}`] ?? "")]));
    const id = JSON.stringify(key);
    let series = bySeries.get(id);
    if (!series) {
      series = { key, buckets: new Map() };
      bySeries.set(id, series);
    }
    const t = row.t.getTime();
    let bucket = series.buckets.get(t);
    if (!bucket) {
      bucket = { count: 0n, amounts: new Map() };
      series.buckets.set(t, bucket);
    }
    bucket.count += row.count;
    bucket.amounts.set(row.currency, (bucket.amounts.get(row.currency) ?? 0n) + row.amount);
  }
  const series = [...bySeries.values()]
    .sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)))
    .map(({ key, buckets }) => ({
      key,
      points: starts.map((t) => {
        const bucket = buckets.get(t);
        if (!bucket) return { t: new Date(t).toISOString(), count: 0, amount: 0 };
        let amount = 0n;
        if (convert) {
          const total = totalIn(query.reportingCurrency, bucket.amounts, rates);
          for (const c of total.unconverted) unconverted.add(c);
          amount = total.amount;
        } else {
          for (const value of bucket.amounts.values()) amount += value;
        }
        return {
          t: new Date(t).toISOString(),
          count: toJsonNumber(bucket.count),
          amount: toJsonNumber(amount),
        };
      }),
    }));
  return {
    object: "analytics",
    metric: query.metric,
    from: new Date(query.fromMs).toISOString(),
    to: new Date(query.toMs).toISOString(),
    granularity: query.granularity,
    time_zone: query.timeZone,
    group_by: [...query.groupBy],
    currency: convert ? query.reportingCurrency : null,
    unconverted_currencies: [...unconverted].sort(),
    series,
  };
}

/** Series as CSV: one line per point, the key's fields as columns. */
export function seriesCsv(result: Series): string {
  const header = ["t", ...result.group_by, "count", "amount", ...(result.currency ? ["currency"] : [])];
  const lines = [header.join(",")];
  for (const s of result.series) {
    for (const p of s.points) {
      lines.push(
        [
          p.t,
          ...result.group_by.map((g) => s.key[g] ?? ""),
          p.count,
          p.amount,
          ...(result.currency ? [result.currency] : []),
        ]
          .map(csvField)
          .join(","),
      );
    }
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** RFC 4180 quoting, and a leading quote on what a spreadsheet would run as a formula. */
export function csvField(value: unknown): string {
  let text = String(value ?? "");
  if (/^[=+\-@\t\r]/.test(text) && !/^-?\d/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
