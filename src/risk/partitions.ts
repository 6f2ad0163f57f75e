import type { Db } from "../db/db.ts";
import { COUNTER_WINDOW_MAX_MS } from "./attributes.ts";

const DAY_MS = 86_400_000;

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

async function exists(db: Db, name: string): Promise<boolean> {
  const { rows } = await db.query<{ exists: boolean }>(
    "select exists (select 1 from pg_class where relname = $1) as exists",
    [name],
  );
  return rows[0]?.exists === true;
}

/**
 * Keeps the daily partitions of the risk tables: today and `daysAhead` days on are made, and
 * observations older than the longest counter window leave (their partition dropped, and any
 * that fell into the default partition deleted), so counters expire without anyone updating
 * them. Decisions are kept. Run at start and by the worker (idempotent; another process doing the
 * same at once is fine).
 */
export async function ensureRiskPartitions(
  db: Db,
  nowMs: number,
  daysAhead = 2,
): Promise<{ created: string[]; dropped: string[] }> {
  const created: string[] = [];
  const dropped: string[] = [];
  const start = Math.floor(nowMs / DAY_MS) * DAY_MS;
  for (const table of ["risk_decisions", "risk_observations"]) {
    for (let i = 0; i <= daysAhead; i++) {
      const from = day(start + i * DAY_MS);
      const to = day(start + (i + 1) * DAY_MS);
      const name = `${table}_${from.replaceAll("-", "")}`;
      if (await exists(db, name)) continue;
      try {
        await db.query(`create table ${name} partition of ${table} for values from ('${from}') to ('${to}')`);
        created.push(name);
      } catch (error) {
        const code = (error as { code?: string }).code;
        // 42P07: another process made it; 23514: the default partition holds rows of that day.
        if (code !== "42P07" && code !== "23514") throw error;
      }
    }
  }
  // Observations: a day whose end is older than the longest window is never read again.
  const { rows } = await db.query<{ name: string }>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      join pg_class p on p.oid = i.inhparent where p.relname = 'risk_observations'`,
  );
  const horizon = nowMs - COUNTER_WINDOW_MAX_MS - DAY_MS;
  for (const { name } of rows) {
    const match = /^risk_observations_(\d{4})(\d{2})(\d{2})$/.exec(name);
    if (!match) continue;
    const dayEnd = Date.parse(`${match[1]}-${match[2]}-${match[3]}T00:00:00Z`) + DAY_MS;
    if (dayEnd >= horizon) continue;
    await db.query(`drop table if exists ${name}`);
    dropped.push(name);
  }
  await db.query("delete from risk_observations_default where created < $1", [new Date(horizon)]);
  return { created, dropped };
}
