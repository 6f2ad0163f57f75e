import type { Db, Queryable } from "../db/db.ts";
import { DAY_MS } from "../platform/clock.ts";
import { newId } from "../platform/ids.ts";
import type { SessionRow, Step, StepRow } from "./model.ts";

/**
 * The payer journey, step by step, for the conversion funnel. One row per step in
 * `checkout_steps` (partitioned by day on `created`):
 *
 *   id, session_id, merchant_id, mode, app_id, country, operator, method, step, created
 *
 * `step` is one of STEPS (model.ts); `method` the method type chosen ("carrier", "card", …);
 * `operator` the MCC+MNC and `country` the payer's ISO 3166 country once known. Rows are only
 * ever appended.
 */
export interface StepDetails {
  method?: string | null;
  operator?: string | null;
  country?: string | null;
}

export async function recordStep(
  q: Queryable,
  session: Pick<SessionRow, "id" | "merchant_id" | "mode" | "app_id" | "payer">,
  step: Step,
  details: StepDetails,
  nowMs: number,
): Promise<void> {
  await q.query(
    `insert into checkout_steps (id, session_id, merchant_id, mode, app_id, country, operator, method, step, created)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      newId("cstep", nowMs),
      session.id,
      session.merchant_id,
      session.mode,
      session.app_id,
      details.country ?? session.payer.country ?? null,
      details.operator ?? null,
      details.method ?? null,
      step,
      new Date(nowMs),
    ],
  );
}

export async function stepsOf(q: Queryable, sessionIds: readonly string[]): Promise<Map<string, StepRow[]>> {
  const bySession = new Map<string, StepRow[]>(sessionIds.map((id) => [id, []]));
  if (sessionIds.length === 0) return bySession;
  const { rows } = await q.query<StepRow>(
    `select id, session_id, step, method, operator, country, created from checkout_steps
      where session_id = any($1::text[]) order by id`,
    [sessionIds],
  );
  for (const row of rows) bySession.get(row.session_id)?.push(row);
  return bySession;
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Creates the day partitions of `checkout_steps` for today and the next `daysAhead` days. A day
 * whose rows already went to the default partition is left there (creating the partition would
 * fail); it stays readable through the parent table.
 */
export async function ensureStepPartitions(db: Db, nowMs: number, daysAhead = 2): Promise<number> {
  let created = 0;
  for (let i = 0; i <= daysAhead; i++) {
    const from = day(nowMs + i * DAY_MS);
    const to = day(nowMs + (i + 1) * DAY_MS);
    const name = `checkout_steps_${from.replaceAll("-", "")}`;
    const { rowCount } = await db.query("select 1 from pg_class where relname = $1", [name]);
    if (rowCount > 0) continue;
    try {
      await db.query(
        `create table if not exists ${name} partition of checkout_steps for values from ('${from}') to ('${to}')`,
      );
      created++;
    } catch {
      // Rows of that day are already in the default partition, or another process made it.
    }
  }
  return created;
}
