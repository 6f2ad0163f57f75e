import type { Queryable } from "../db/db.ts";

export interface ListParams {
  limit: number;
  starting_after?: string;
  ending_before?: string;
}

export interface Page<Row> {
  rows: Row[];
  hasMore: boolean;
}

/**
 * Cursor pagination over time-sortable ids, newest first. `where` is a list of SQL conditions
 * using $1..$n for `params`; the cursor and limit are appended.
 */
export async function listPage<Row extends { id: string }>(
  q: Queryable,
  table: string,
  where: string[],
  params: unknown[],
  list: ListParams,
): Promise<Page<Row>> {
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
  values.push(list.limit + 1);
  const sql = `select * from ${table} where ${conditions.join(" and ")} order by id ${ascending ? "asc" : "desc"} limit $${values.length}`;
  const { rows } = await q.query<Row>(sql, values);
  const hasMore = rows.length > list.limit;
  const page = rows.slice(0, list.limit);
  if (ascending) page.reverse();
  return { rows: page, hasMore };
}

export function listBody<T>(data: T[], hasMore: boolean): { object: "list"; data: T[]; has_more: boolean } {
  return { object: "list", data, has_more: hasMore };
}
