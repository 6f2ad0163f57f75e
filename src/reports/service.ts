import type { FastifyReply } from "fastify";
import type { Currencies } from "../currencies/index.ts";
import type { Db } from "../db/db.ts";
import { type Clock, isTimeZone } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import type { AuthScope } from "../platform/scope.ts";
import { type REVENUE_GROUPS, revenueReport } from "./revenue.ts";
import type { BatchLiability } from "./subscriptions.ts";

/** What the routes and the page share: their dependencies, the checks of a period, CSV replies. */
export interface ReportRouteDeps {
  /** Reports tolerate lag: the read replica when there is one. */
  readDb: Db;
  clock: Clock;
  currencies: Currencies;
  /** Voucher batches' liability from the ledger (the vouchers folder's own report, per batch). */
  voucherBatches: { liabilityReport(scope: AuthScope): Promise<BatchLiability[]> };
}

const DAY_MS = 86_400_000;
/** At most a year and a day per report: enough for annual figures, bounded cost. */
const MAX_RANGE_MS = 367 * DAY_MS;

export function sendCsv(reply: FastifyReply, name: string, body: string): FastifyReply {
  return reply
    .code(200)
    .type("text/csv; charset=utf-8")
    .header("content-disposition", `attachment; filename="${name}.csv"`)
    .send(body);
}

/** A period of at most 367 days, `from` before `to`. */
export function reportPeriod(query: { from: string; to: string }): { fromMs: number; toMs: number } {
  const fromMs = Date.parse(query.from);
  const toMs = Date.parse(query.to);
  if (!(toMs > fromMs)) throw new ApiError("parameter_invalid", "to", "`to` is after `from`.");
  if (toMs - fromMs > MAX_RANGE_MS)
    throw new ApiError("parameter_invalid", "from", "A report covers at most 367 days.");
  return { fromMs, toMs };
}

export function checkTimeZone(zone: string | undefined): string {
  if (zone === undefined) return "UTC";
  if (!isTimeZone(zone))
    throw new ApiError("parameter_invalid", "time_zone", "An IANA time zone such as Europe/Paris.");
  return zone;
}

async function defaultCurrency(db: Db, scope: AuthScope): Promise<string> {
  const { rows } = await db.query<{ default_currency: string | null }>(
    "select default_currency from merchants where id = $1",
    [scope.merchantId],
  );
  return rows[0]?.default_currency ?? "EUR";
}

/** What the revenue route and the page both compute from a query. */
export async function revenueFor(
  deps: ReportRouteDeps,
  scope: AuthScope,
  query: { from: string; to: string; group_by?: string; reporting_currency?: string; time_zone?: string },
) {
  const { fromMs, toMs } = reportPeriod(query);
  const timeZone = checkTimeZone(query.time_zone);
  const reporting = query.reporting_currency ?? (await defaultCurrency(deps.readDb, scope));
  const reportingDigits = await deps.currencies.requireDigits(
    deps.readDb,
    scope,
    reporting,
    "reporting_currency",
  );
  return revenueReport(deps.readDb, deps.currencies, scope, {
    fromMs,
    toMs,
    groupBy: (query.group_by ?? "day") as (typeof REVENUE_GROUPS)[number],
    reportingCurrency: reporting,
    reportingDigits,
    timeZone,
    nowMs: deps.clock.nowMs(),
  });
}
