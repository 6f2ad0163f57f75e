import type { Db } from "../db/db.ts";
import { DAY_MS } from "../platform/clock.ts";

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Creates the audit log's daily partitions from today to `daysAhead` days on. A day that already
 * has rows in the default partition keeps them there (PostgreSQL refuses the new partition);
 * nothing is ever refused to a writer.
 */
export async function ensureAuditPartitions(db: Db, nowMs: number, daysAhead = 2): Promise<string[]> {
  const created: string[] = [];
  const start = Math.floor(nowMs / DAY_MS) * DAY_MS;
  for (let i = 0; i <= daysAhead; i++) {
    const from = day(start + i * DAY_MS);
    const to = day(start + (i + 1) * DAY_MS);
    const name = `audit_events_${from.replaceAll("-", "")}`;
    const { rows } = await db.query<{ exists: boolean }>(
      "select exists (select 1 from pg_class where relname = $1) as exists",
      [name],
    );
    if (rows[0]?.exists) continue;
    try {
      await db.transaction(async (tx) => {
        await tx.query(
          `create table ${name} partition of audit_events for values from ('${from}') to ('${to}')`,
        );
        await tx.query(
          `create trigger ${name}_no_truncate before truncate on ${name} for each statement execute function audit_events_refuse_change()`,
        );
      });
      created.push(name);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // 42P07: another process created it; 23514: the default partition holds rows of that day.
      if (code !== "42P07" && code !== "23514") throw error;
    }
  }
  return created;
}
