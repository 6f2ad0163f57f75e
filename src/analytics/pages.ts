import type { FastifyInstance, FastifyRequest } from "fastify";
import { addAdminNavigation, adminPage, type StaffPageContext } from "../backoffice/index.ts";
import { getOperator } from "../connectors/index.ts";
import type { Db } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import type { Logger } from "../platform/log.ts";
import { isCurrency } from "../platform/money.ts";
import { holds } from "../staff/index.ts";
import {
  DEFAULT_LOCALE,
  formatMoney,
  isLocale,
  type Locale,
  loadCatalogues,
  Messages,
  registerAsset,
  renderTemplate,
} from "../web/index.ts";
import {
  type DashboardData,
  type DashboardFilters,
  type DashboardMode,
  dashboardData,
  FILTERS,
  filterChoices,
  MODES,
  RANGES,
  type Range,
  reportingChoices,
  rollupVersion,
} from "./dashboard.ts";
import type { AnalyticsScope } from "./queries.ts";

// The stream sends its server-rendered parts too (escaped like the page), so it needs the back
// office's messages outside a page render.
const MESSAGES = new Messages(loadCatalogues(new URL("../backoffice/messages", import.meta.url).pathname));

registerAsset("dashboard.js", new URL("./assets/dashboard.js", import.meta.url).pathname);
registerAsset("dashboard.css", new URL("./assets/dashboard.css", import.meta.url).pathname);
addAdminNavigation({ key: "nav.dashboard", href: "/admin/dashboard", permission: "analytics:read" });

export interface DashboardDeps {
  db: Db;
  /** The dashboard's numbers may lag: a replica when DATABASE_READ_URL is set. */
  readDb: Db;
  clock: Clock;
  logger: Logger;
}

/** How often the stream looks for newly ingested numbers, and says it is alive. */
const POLL_MS = 500;
const KEEP_ALIVE_MS = 15_000;

function staffOf(request: FastifyRequest): StaffPageContext {
  const context = request.staffPage;
  if (!context) throw new ApiError("api_key_missing");
  if (!holds(context.access, "analytics:read")) throw new ApiError("permission_denied");
  return context;
}

/**
 * The modes a reader may switch between: platform staff see every merchant in either mode; a
 * merchant's team member only the mode of their membership (a test-mode member never sees live
 * numbers, as their key would not).
 */
function modesOf(context: StaffPageContext): readonly DashboardMode[] {
  return context.scope ? [context.scope.mode] : MODES;
}

/** The view asked for: a mode the reader may not see is refused, naming `mode`. */
function scopeOf(context: StaffPageContext, mode: unknown): AnalyticsScope {
  const allowed = modesOf(context);
  if (mode !== undefined && mode !== "" && !allowed.includes(mode as DashboardMode)) {
    throw new ApiError("permission_denied", "mode", "You cannot see the numbers of this mode.");
  }
  const chosen = mode === undefined || mode === "" ? allowed[0]! : (mode as DashboardMode);
  return { merchantId: context.scope?.merchantId ?? null, mode: chosen };
}

interface View {
  range: Range;
  filters: DashboardFilters;
  reportingCurrency: string | undefined;
}

function parseView(query: Record<string, unknown>): View {
  const range = typeof query.range === "string" && query.range in RANGES ? (query.range as Range) : "24h";
  const filters: DashboardFilters = {};
  for (const name of FILTERS) {
    const value = query[name];
    if (typeof value === "string" && /^[\w.+-]{1,64}$/.test(value)) filters[name] = value;
  }
  const currency = query.reporting_currency;
  const reportingCurrency = typeof currency === "string" && isCurrency(currency) ? currency : undefined;
  return { range, filters, reportingCurrency };
}

/** The parts of the view the stream sends as HTML (rendered and escaped like the page). */
function renderParts(view: ReturnType<typeof presentDashboard>, locale: Locale) {
  const data = { t: MESSAGES.translator(locale), view };
  return {
    money: renderTemplate("analytics/templates/dashboard-money", data),
    funnels: renderTemplate("analytics/templates/dashboard-funnels", data),
  };
}

/** What the page and the stream show, numbers formatted in the reader's locale. */
export function presentDashboard(data: DashboardData, locale: Locale) {
  const integer = new Intl.NumberFormat(locale);
  const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
  const ms = new Intl.NumberFormat(locale, { style: "unit", unit: "millisecond", unitDisplay: "short" });
  return {
    version: data.version,
    mode: data.mode,
    from: data.from,
    to: data.to,
    granularity: data.granularity,
    tiles: {
      succeeded: { value: data.tiles.succeeded, text: integer.format(data.tiles.succeeded) },
      failed: { value: data.tiles.failed, text: integer.format(data.tiles.failed) },
      canceled: { value: data.tiles.canceled, text: integer.format(data.tiles.canceled) },
      acceptance: {
        value: data.tiles.acceptance_bp,
        // Basis points to a fraction for Intl only: an integer ratio, not money.
        text: data.tiles.acceptance_bp === null ? "–" : percent.format(data.tiles.acceptance_bp / 10_000),
      },
    },
    revenue: data.tiles.revenue.map((r) => ({ ...r, text: formatMoney(r.amount, r.currency, locale) })),
    chart: data.chart,
    funnel: data.funnel.map((s) => ({ ...s, text: integer.format(s.count) })),
    operatorFunnels: data.operatorFunnels.map((o) => {
      const opened = o.steps[0]?.count ?? 0;
      // Staff know operators by name; the MCC/MNC stays beside it for the ones sharing a brand.
      const known = getOperator(o.operator);
      return {
        operator: o.operator,
        label: known ? `${known.brand ?? known.name} (${o.operator})` : o.operator,
        journeys: o.journeys,
        steps: o.steps.map((s) => ({
          ...s,
          text: integer.format(s.count),
          // Of the journeys that opened the page (an integer ratio, not money).
          share: opened === 0 ? null : s.count / opened,
          shareText: opened === 0 ? "–" : percent.format(s.count / opened),
        })),
      };
    }),
    reporting: data.reporting && {
      ...data.reporting,
      text:
        data.reporting.amount === null
          ? null
          : formatMoney(data.reporting.amount, data.reporting.currency, locale),
    },
    refunds: {
      count: data.refunds.count,
      text: integer.format(data.refunds.count),
      amounts: data.refunds.amounts.map((r) => ({ ...r, text: formatMoney(r.amount, r.currency, locale) })),
    },
    subscriptions: data.subscriptions.map((s) => ({
      ...s,
      activeText: integer.format(s.active),
      mrrText: formatMoney(s.mrr, s.currency, locale),
    })),
    providers: data.providers.map((p) => ({
      ...p,
      p99Text: p.p99_ms === null ? "–" : ms.format(p.p99_ms),
      errorText: p.error_rate_bp === null ? "–" : percent.format(p.error_rate_bp / 10_000),
    })),
  };
}

/** `/admin/dashboard` and its event stream, inside the back office's signed-in pages. */
export function dashboardPages(deps: DashboardDeps) {
  return (pages: FastifyInstance) => {
    pages.get("/admin/dashboard", { schema: { hide: true } }, async (request, reply) => {
      const context = staffOf(request);
      const query = request.query as Record<string, unknown>;
      const scope = scopeOf(context, query.mode);
      const { range, filters, reportingCurrency } = parseView(query);
      const nowMs = deps.clock.nowMs();
      const data = await dashboardData(deps.readDb, scope, range, filters, nowMs, { reportingCurrency });
      const lang = (request.query as { lang?: string }).lang;
      const locale: Locale = isLocale(lang)
        ? lang
        : isLocale(context.staff.locale)
          ? context.staff.locale
          : DEFAULT_LOCALE;
      const params = new URLSearchParams({
        range,
        ...filters,
        mode: scope.mode,
        ...(reportingCurrency ? { reporting_currency: reportingCurrency } : {}),
      });
      const view = presentDashboard(data, locale);
      return adminPage(
        reply,
        "analytics/templates/dashboard",
        {
          view,
          range,
          ranges: Object.keys(RANGES),
          filters,
          mode: scope.mode,
          modes: modesOf(context),
          reportingCurrency: reportingCurrency ?? "",
          currencies: [
            ...new Set([
              ...(await reportingChoices(deps.readDb)),
              ...data.tiles.revenue.map((r) => r.currency).filter(isCurrency),
              ...(reportingCurrency ? [reportingCurrency] : []),
            ]),
          ].sort(),
          choices: await filterChoices(deps.readDb, scope, nowMs),
          stream: `/admin/dashboard/stream?${params}`,
          // Charts in the reader's time zone (the staff member's, else UTC).
          timeZone: context.staff.time_zone ?? "UTC",
        },
        {
          title: "dashboard.title",
          scripts: ["uplot.min.js", "dashboard.js"],
          styles: ["uplot.min.css", "dashboard.css"],
        },
      );
    });

    // Server-sent events: each message is the whole view as of one rollup version (its id), so a
    // reconnect that sends Last-Event-ID gets the current view at once if anything moved meanwhile,
    // and nothing is lost between two messages.
    pages.get("/admin/dashboard/stream", { schema: { hide: true } }, async (request, reply) => {
      const context = staffOf(request);
      const query = request.query as Record<string, unknown>;
      const scope = scopeOf(context, query.mode);
      const { range, filters, reportingCurrency } = parseView(query);
      const locale: Locale = isLocale(query.lang) ? query.lang : DEFAULT_LOCALE;
      // The header EventSource sends when it reconnects, or the same as a parameter.
      const header = request.headers["last-event-id"] ?? query.last_event_id;
      let sent = typeof header === "string" ? header.slice(0, 100) : "";
      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        connection: "keep-alive",
      });
      out.write("retry: 1000\n\n");
      let closed = false;
      let quietMs = 0;
      let timer: NodeJS.Timeout | undefined;
      request.raw.on("close", () => {
        closed = true;
        clearTimeout(timer);
      });
      const tick = async () => {
        try {
          if ((await rollupVersion(deps.readDb)) !== sent) {
            const data = await dashboardData(deps.readDb, scope, range, filters, deps.clock.nowMs(), {
              reportingCurrency,
            });
            if (closed) return;
            const view = presentDashboard(data, locale);
            out.write(
              `id: ${data.version}\nevent: totals\ndata: ${JSON.stringify({ ...view, parts: renderParts(view, locale) })}\n\n`,
            );
            sent = data.version;
            quietMs = 0;
          } else {
            quietMs += POLL_MS;
            if (quietMs >= KEEP_ALIVE_MS) {
              out.write(": alive\n\n");
              quietMs = 0;
            }
          }
        } catch (error) {
          deps.logger.warn({ err: error }, "dashboard stream: a refresh failed; the next one retries");
        }
        if (!closed) timer = setTimeout(tick, POLL_MS);
      };
      void tick();
    });
  };
}
