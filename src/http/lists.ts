export { type ListParams, listPage, type Page } from "../db/pages.ts";

export function listBody<T>(data: T[], hasMore: boolean): { object: "list"; data: T[]; has_more: boolean } {
  return { object: "list", data, has_more: hasMore };
}
