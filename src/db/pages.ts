import { ApiError } from "../platform/errors.ts";
import { ID_PATTERN } from "../platform/ids.ts";
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

const CURSORS = ["starting_after", "ending_before"] as const;

/**
 * The page size, and a refusal of what no list can page by: a limit out of range, or both
 * cursors at once (which one would win was silent). Returns the limit.
 */
export function checkListParams(list: ListParams): number {
  const limit = list.limit ?? LIMITS.list_limit_default;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.list_limit_max) {
    throw new ApiError("parameter_out_of_range", "limit");
  }
  if (list.starting_after && list.ending_before) {
    throw new ApiError(
      "parameter_invalid",
      "ending_before",
      "Give starting_after or ending_before, not both.",
    );
  }
  return limit;
}

/**
 * Cursor pagination over time-sortable ids, newest first. `where` holds SQL conditions over
 * $1..$n of `params`; the cursor and limit are appended. A cursor that is not an id is refused
 * (400 naming it); an id that is well formed but unknown is a position in time like any other,
 * so a page after a deleted or pruned object still starts where it was.
 */
export async function listPage<Row extends { id: string }>(
  q: Queryable,
  table: string,
  where: readonly string[],
  params: readonly unknown[],
  list: ListParams,
): Promise<Page<Row>> {
  const limit = checkListParams(list);
  for (const name of CURSORS) {
    const cursor = list[name];
    if (cursor && !ID_PATTERN.test(cursor)) {
      throw new ApiError("parameter_invalid", name, `${name} must be the id of an object of this list.`);
    }
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

/**
 * One page of a list held in memory, in its own order (a fixed catalogue, or one too small to
 * need an index). The cursors are keys of its items: one that names no item has no position, so
 * it is refused (400 naming it).
 */
export function pageOf<Item>(
  items: readonly Item[],
  keyOf: (item: Item) => string,
  list: ListParams,
): Page<Item> {
  const limit = checkListParams(list);
  const indexOf = (name: (typeof CURSORS)[number], key: string) => {
    const index = items.findIndex((item) => keyOf(item) === key);
    if (index < 0) throw new ApiError("parameter_invalid", name, `${name} must name an object of this list.`);
    return index;
  };
  if (list.ending_before) {
    const end = indexOf("ending_before", list.ending_before);
    const start = Math.max(0, end - limit);
    return { rows: items.slice(start, end), hasMore: start > 0 };
  }
  const start = list.starting_after ? indexOf("starting_after", list.starting_after) + 1 : 0;
  return { rows: items.slice(start, start + limit), hasMore: items.length > start + limit };
}
