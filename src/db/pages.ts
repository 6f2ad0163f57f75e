import { ApiError } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import type { Queryable } from "./db.ts";

export interface ListParams {
  limit?: number;
  starting_after?: string;
  ending_before?: string;
}

export interface Page<Row> {
  rows: Row[];
  hasMore: boolean;
}

/**
 * Cursor pagination over time-sortable ids, newest first. `where` holds SQL conditions over
 * $1..$n of `params`; the cursor and limit are appended.
 */
export async function listPage<Row extends { id: string }>(
  q: Queryable,
  table: string,
  where: readonly string[],
  params: readonly unknown[],
  list: ListParams,
): Promise<Page<Row>> {
  const limit = list.limit ?? LIMITS.list_limit_default;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.list_limit_max) {
    throw new ApiError("parameter_out_of_range", "limit");
  }
  const conditions = where.length > 0 ? [...where] : ["true"];
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
  const { rows } = await q.query<Row>(sql, values);
  const hasMore = rows.length > limit;
  const page = rows.slice(0, limit);
  if (ascending) page.reverse();
  return { rows: page, hasMore };
}
