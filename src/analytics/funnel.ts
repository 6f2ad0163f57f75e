import type { Queryable } from "../db/db.ts";
import { csvField, type Scope } from "./series.ts";

/**
 * The conversion funnel, from the journeys checkout records: one row per step a checkout session
 * reached (session, merchant, mode, app, country, operator, method, step, created), in a table
 * partitioned by day. A session counts once at each step it reached within [from, to).
 */
export const JOURNEY_TABLE = "checkout_journey_steps";

/** The steps in the order a payer meets them; steps checkout adds later are listed after these. */
export const FUNNEL_STEPS = [
  "opened",
  "method_selected",
  "msisdn_entered",
  "otp_sent",
  "otp_verified",
  "confirmed",
  "completed",
] as const;

export interface FunnelQuery {
  fromMs: number;
  toMs: number;
  app?: string;
  operator?: string;
  country?: string;
  method?: string;
  /** One funnel per value of this dimension (the dashboard's funnel per operator). */
  groupBy?: "operator" | "country" | "app" | "method";
}

export interface FunnelStep {
  step: string;
  count: number;
  /** Sessions at this step out of those at the first step, 0–1 (null when the first is empty). */
  conversion: number | null;
}

export interface Funnel {
  object: "funnel";
  from: string;
  to: string;
  filters: Record<string, string>;
  steps: FunnelStep[];
  series: { key: Record<string, string>; steps: FunnelStep[] }[];
}

function ordered(counts: Map<string, number>): FunnelStep[] {
  const names = [
    ...FUNNEL_STEPS,
    ...[...counts.keys()].filter((s) => !(FUNNEL_STEPS as readonly string[]).includes(s)).sort(),
  ];
  const first = counts.get(names[0]!) ?? 0;
  return names.map((step) => {
    const count = counts.get(step) ?? 0;
    return { step, count, conversion: first > 0 ? Math.round((count / first) * 10_000) / 10_000 : null };
  });
}

export async function queryFunnel(db: Queryable, scope: Scope, query: FunnelQuery): Promise<Funnel> {
  const filters: Record<string, string> = {};
  for (const name of ["app", "operator", "country", "method"] as const) {
    const value = query[name];
    if (value !== undefined) filters[name] = value;
  }
  const base = {
    object: "funnel" as const,
    from: new Date(query.fromMs).toISOString(),
    to: new Date(query.toMs).toISOString(),
    filters,
  };
  const exists = await db.query<{ t: string | null }>("select to_regclass($1)::text as t", [JOURNEY_TABLE]);
  if (!exists.rows[0]?.t) return { ...base, steps: ordered(new Map()), series: [] };
  const params: unknown[] = [scope.merchantId, scope.mode, new Date(query.fromMs), new Date(query.toMs)];
  const where = Object.entries(filters).map(([name, value]) => {
    params.push(value);
    return `and coalesce(${name}, '') = $${params.length}`;
  });
  const group = query.groupBy ? `coalesce(${query.groupBy}, '')` : "''";
  const { rows } = await db.query<{ g: string; step: string; sessions: bigint }>(
    `select ${group} as g, step, count(distinct session_id)::bigint as sessions
       from ${JOURNEY_TABLE}
      where merchant_id = $1 and mode = $2 and created >= $3 and created < $4 ${where.join(" ")}
      group by 1, 2`,
    params,
  );
  const total = new Map<string, number>();
  const grouped = new Map<string, Map<string, number>>();
  for (const row of rows) {
    const sessions = Number(row.sessions);
    total.set(row.step, (total.get(row.step) ?? 0) + sessions);
    const counts = grouped.get(row.g) ?? new Map<string, number>();
    counts.set(row.step, sessions);
    grouped.set(row.g, counts);
  }
  return {
    ...base,
    steps: ordered(total),
    series: query.groupBy
      ? [...grouped.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([value, counts]) => ({ key: { [query.groupBy!]: value }, steps: ordered(counts) }))
      : [],
  };
}

export function funnelCsv(funnel: Funnel): string {
  const lines = ["group,step,count,conversion"];
  const blocks = funnel.series.length > 0 ? funnel.series : [{ key: {}, steps: funnel.steps }];
  for (const block of blocks) {
    const group = Object.values(block.key)[0] ?? "";
    for (const s of block.steps)
      lines.push([group, s.step, s.count, s.conversion ?? ""].map(csvField).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}
