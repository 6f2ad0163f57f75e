import type { FastifyInstance, FastifyRequest } from "fastify";
import { Temporal } from "temporal-polyfill";
import { addAdminNavigation, adminPage, type StaffPageContext, scopeOf } from "../backoffice/index.ts";
import { ApiError } from "../platform/errors.ts";
import { isCurrency, minorDigits } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";
import { holds } from "../staff/index.ts";
import { type Locale, loadCatalogues, Messages, registerAsset } from "../web/index.ts";
import { REVENUE_GROUPS, type RevenueReport, revenueCsv } from "./revenue.ts";
import { type ReportRouteDeps, revenueFor, sendCsv } from "./service.ts";
import { monthlyStatement, statementCsv } from "./statement.ts";
import { liabilityCsv, subscriptionsCsv, subscriptionsReport, voucherLiability } from "./subscriptions.ts";

// The page's own catalogue (src/reports/messages): only the navigation entry is in the back office's.
const MESSAGES = new Messages(loadCatalogues(new URL("./messages", import.meta.url).pathname));
registerAsset("reports.css", new URL("./assets/reports.css", import.meta.url).pathname);
addAdminNavigation({ key: "nav.reports", href: "/admin/reports", permission: "analytics:read" });

/** Reporting currencies offered on the page (any ISO 4217 code works through the API). */
const CHOICES = ["EUR", "USD", "GBP", "RON", "XOF", "XAF", "MAD", "JPY", "KWD"];
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

function staffOf(request: FastifyRequest): { context: StaffPageContext; scope: AuthScope } {
  const context = request.staffPage;
  if (!context) throw new ApiError("api_key_missing");
  if (!holds(context.access, "analytics:read")) throw new ApiError("permission_denied");
  // A merchant's statement: platform staff choose the merchant first (the back office's scopeOf).
  return { context, scope: scopeOf(context) };
}

export interface PageView {
  from: string;
  to: string;
  groupBy: (typeof REVENUE_GROUPS)[number];
  reportingCurrency: string;
  month: string;
  timeZone: string;
}

/** The period of the form: whole days in the reader's time zone, `to` included; defaults to this month so far. */
export function parsePageView(query: Record<string, unknown>, timeZone: string, nowMs: number): PageView {
  const today = Temporal.Instant.fromEpochMilliseconds(nowMs).toZonedDateTimeISO(timeZone).toPlainDate();
  const text = (name: string, pattern: RegExp) => {
    const value = query[name];
    return typeof value === "string" && pattern.test(value) ? value : undefined;
  };
  let from = text("from", DATE) ?? today.with({ day: 1 }).toString();
  let to = text("to", DATE) ?? today.toString();
  if (Temporal.PlainDate.compare(from, to) > 0) [from, to] = [to, from];
  // At most a year: the API's bound.
  const earliest = Temporal.PlainDate.from(to).subtract({ days: 366 });
  if (Temporal.PlainDate.compare(from, earliest) < 0) from = earliest.toString();
  const group = query.group_by;
  const groupBy = REVENUE_GROUPS.includes(group as never) ? (group as PageView["groupBy"]) : "day";
  const currency = text("reporting_currency", /^[A-Z]{3}$/);
  return {
    from,
    to,
    groupBy,
    reportingCurrency: currency && isCurrency(currency) ? currency : "EUR",
    month: text("month", MONTH) ?? today.toString().slice(0, 7),
    timeZone,
  };
}

/** A day of the reader's zone to its first instant, ISO UTC. */
function startOf(day: string, timeZone: string): string {
  return Temporal.PlainDate.from(day).toZonedDateTime({ timeZone }).toInstant().toString();
}

function revenueOf(deps: ReportRouteDeps, scope: AuthScope, view: PageView) {
  return revenueFor(deps, scope, {
    from: startOf(view.from, view.timeZone),
    to: startOf(Temporal.PlainDate.from(view.to).add({ days: 1 }).toString(), view.timeZone),
    group_by: view.groupBy,
    reporting_currency: view.reportingCurrency,
    time_zone: view.timeZone,
  });
}

/** A reporting amount with its currency's ISO 4217 digits, in the reader's locale. */
function digitsOf(currency: string): number | undefined {
  return isCurrency(currency) ? minorDigits(currency) : undefined;
}

/** `/admin/reports` and its CSV downloads, inside the back office's signed-in pages. */
export function reportPages(deps: ReportRouteDeps) {
  return (pages: FastifyInstance) => {
    const viewOf = (request: FastifyRequest, context: StaffPageContext) =>
      parsePageView(
        request.query as Record<string, unknown>,
        context.staff.time_zone ?? "UTC",
        deps.clock.nowMs(),
      );

    pages.get("/admin/reports", { schema: { hide: true } }, async (request, reply) => {
      const { context, scope } = staffOf(request);
      const view = viewOf(request, context);
      const revenue: RevenueReport = await revenueOf(deps, scope, view);
      const statement = await monthlyStatement(deps.readDb, scope, view.month, deps.clock.nowMs()).catch(
        (error: unknown) => {
          if (error instanceof ApiError && error.param === "month") return null;
          throw error;
        },
      );
      const params = new URLSearchParams({
        from: view.from,
        to: view.to,
        group_by: view.groupBy,
        reporting_currency: view.reportingCurrency,
      });
      return adminPage(
        reply,
        "reports/templates/reports",
        {
          view,
          revenue,
          statement,
          groups: REVENUE_GROUPS,
          currencies: CHOICES.includes(view.reportingCurrency)
            ? CHOICES
            : [view.reportingCurrency, ...CHOICES],
          digitsOf,
          links: {
            revenue: `/admin/reports/revenue.csv?${params}`,
            subscriptions: `/admin/reports/subscriptions.csv?${params}`,
            liability: "/admin/reports/voucher_liability.csv",
            statement: `/admin/reports/statement.csv?month=${view.month}`,
          },
          rtFor: (locale: Locale) => MESSAGES.translator(locale),
        },
        { title: "nav.reports", styles: ["reports.css"] },
      );
    });

    pages.get("/admin/reports/revenue.csv", { schema: { hide: true } }, async (request, reply) => {
      const { context, scope } = staffOf(request);
      return sendCsv(reply, "revenue", revenueCsv(await revenueOf(deps, scope, viewOf(request, context))));
    });

    pages.get("/admin/reports/subscriptions.csv", { schema: { hide: true } }, async (request, reply) => {
      const { context, scope } = staffOf(request);
      const view = viewOf(request, context);
      const fromMs = Date.parse(startOf(view.from, view.timeZone));
      const toMs = Date.parse(
        startOf(Temporal.PlainDate.from(view.to).add({ days: 1 }).toString(), view.timeZone),
      );
      return sendCsv(
        reply,
        "subscriptions",
        subscriptionsCsv(await subscriptionsReport(deps.readDb, scope, fromMs, toMs)),
      );
    });

    pages.get("/admin/reports/voucher_liability.csv", { schema: { hide: true } }, async (request, reply) => {
      const { scope } = staffOf(request);
      const batches = await deps.voucherBatches.liabilityReport(scope);
      const report = await voucherLiability(deps.readDb, scope, deps.clock.nowMs(), batches);
      return sendCsv(reply, "voucher_liability", liabilityCsv(report));
    });

    pages.get("/admin/reports/statement.csv", { schema: { hide: true } }, async (request, reply) => {
      const { context, scope } = staffOf(request);
      const view = viewOf(request, context);
      const statement = await monthlyStatement(deps.readDb, scope, view.month, deps.clock.nowMs());
      return sendCsv(reply, `statement-${statement.month}`, statementCsv(statement));
    });
  };
}
