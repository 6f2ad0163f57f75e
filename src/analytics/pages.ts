import type { FastifyInstance, FastifyRequest } from "fastify";
import { addAdminNavigation, adminPage, type StaffPageContext } from "../backoffice/index.ts";
import type { Db } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import type { Logger } from "../platform/log.ts";
import { holds } from "../staff/index.ts";
import { DEFAULT_LOCALE, formatMoney, isLocale, type Locale, registerAsset } from "../web/index.ts";
import {
  type DashboardData,
  type DashboardFilters,
  dashboardData,
  FILTERS,
  filterChoices,
  RANGES,
  type Range,
  rollupVersion,
} from "./dashboard.ts";
import type { AnalyticsScope } from "./queries.ts";

registerAsset("dashboard.js", new URL("./assets/dashboard.js", import.meta.url).pathname);
registerAsset("dashboard.css", new URL("./assets/dashboard.css", import.meta.url).pathname);
addAdminNavigation({ key: "nav.dashboard", href: "/admin/dashboard", permission: "analytics:read" });

export interface DashboardDeps {
  db: Db;
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

/** A merchant's team sees its merchant; platform staff see every merchant (test mode). */
function scopeOf(context: StaffPageContext): AnalyticsScope {
  return context.scope
    ? { merchantId: context.scope.merchantId, mode: context.scope.mode }
    : { merchantId: null, mode: "test" };
}

function parseView(query: Record<string, unknown>): { range: Range; filters: DashboardFilters } {
  const range = typeof query.range === "string" && query.range in RANGES ? (query.range as Range) : "24h";
  const filters: DashboardFilters = {};
  for (const name of FILTERS) {
    const value = query[name];
    if (typeof value === "string" && /^[\w.+-]{1,64}$/.test(value)) filters[name] = value;
  }
  return { range, filters };
}

/** What the page and the stream show, numbers formatted in the reader's locale. */
export function presentDashboard(data: DashboardData, locale: Locale) {
  const integer = new Intl.NumberFormat(locale);
  const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
  return {
    version: data.version,
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
  };
}

/** `/admin/dashboard` and its event stream, inside the back office's signed-in pages. */
export function dashboardPages(deps: DashboardDeps) {
  return (pages: FastifyInstance) => {
    pages.get("/admin/dashboard", { schema: { hide: true } }, async (request, reply) => {
      const context = staffOf(request);
      const scope = scopeOf(context);
      const { range, filters } = parseView(request.query as Record<string, unknown>);
      const nowMs = deps.clock.nowMs();
      const data = await dashboardData(deps.db, scope, range, filters, nowMs);
      const lang = (request.query as { lang?: string }).lang;
      const locale: Locale = isLocale(lang)
        ? lang
        : isLocale(context.staff.locale)
          ? context.staff.locale
          : DEFAULT_LOCALE;
      const params = new URLSearchParams({ range, ...filters });
      return adminPage(
        reply,
        "analytics/templates/dashboard",
        {
          view: presentDashboard(data, locale),
          range,
          ranges: Object.keys(RANGES),
          filters,
          choices: await filterChoices(deps.db, scope, nowMs),
          stream: `/admin/dashboard/stream?${params}`,
          // Charts in the reader's time zone (the staff member's, else UTC).
          timeZone: context.staff.time_zone ?? "UTC",
        },
        {
          title: "Dashboard",
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
      const scope = scopeOf(context);
      const query = request.query as Record<string, unknown>;
      const { range, filters } = parseView(query);
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
          if ((await rollupVersion(deps.db)) !== sent) {
            const data = await dashboardData(deps.db, scope, range, filters, deps.clock.nowMs());
            if (closed) return;
            out.write(
              `id: ${data.version}\nevent: totals\ndata: ${JSON.stringify(presentDashboard(data, locale))}\n\n`,
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
