import type { Queryable } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";

export type { AuthScope as Scope, Mode } from "../platform/scope.ts";

export interface EventsDeps {
  db: Queryable & { transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> };
  clock: Clock;
  /** Hosts that may be private (development, tests); defaults to CENTIME_WEBHOOK_ALLOWED_HOSTS. */
  allowedHosts?: ReadonlySet<string>;
}

export type { ListParams } from "../db/pages.ts";

export interface ListBody<T> {
  object: "list";
  data: T[];
  has_more: boolean;
}

export { listPage } from "../db/pages.ts";

export function toIso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}
