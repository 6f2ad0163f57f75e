import type { Queryable } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";

export type Mode = "test" | "live";

/** Whose data a call may see: one merchant in one mode. Test and live never mix. */
export interface Scope {
  merchantId: string;
  mode: Mode;
}

export interface EventsDeps {
  db: Queryable & { transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> };
  clock: Clock;
  /** Hosts that may be private (development, tests); defaults to CENTIME_WEBHOOK_ALLOWED_HOSTS. */
  allowedHosts?: ReadonlySet<string>;
}

export interface ListParams {
  limit?: number;
  starting_after?: string;
  ending_before?: string;
}

export interface ListBody<T> {
  object: "list";
  data: T[];
  has_more: boolean;
}

/**
 * Cursor pagination over time-sortable ids, newest first. `where` holds SQL conditions over
 * $1..$n of `params`; the cursor and limit are appended. (The same contract as the core's list
 * helper in src/http/lists.ts, which this module could not import before the two branches met.)
 */
export async function listPage<Row extends { id: string }>(
  db: Queryable,
  table: string,
  where: readonly string[],
  params: readonly unknown[],
  list: ListParams,
): Promise<{ rows: Row[]; hasMore: boolean }> {
  const limit = list.limit ?? LIMITS.list_limit_default;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.list_limit_max) {
    throw new ApiError("parameter_out_of_range", "limit");
  }
  const conditions = [...where];
  const values = [...params];
  let ascending = false;
  if (list.starting_after) {
    values.push(list.starting_after);
    conditions.push(`id < $${values.length}`);
  } else if (list.ending_before) {
    values.push(list.ending_before);
    conditions.push(`id > $${values.length}`);
    ascending = true;
  }
  values.push(limit + 1);
  const sql = `select * from ${table} where ${conditions.join(" and ")} order by id ${ascending ? "asc" : "desc"} limit $${values.length}`;
  const { rows } = await db.query<Row>(sql, values);
  const hasMore = rows.length > limit;
  const page = rows.slice(0, limit);
  if (ascending) page.reverse();
  return { rows: page, hasMore };
}

export function toIso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}
