import type { ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Db } from "../db/db.ts";
import type { AuthContext } from "../merchants/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import {
  formatMoney,
  LOCALES,
  type Locale,
  loadCatalogues,
  negotiateLocale,
  registerAsset,
} from "../web/index.ts";
import {
  currentPosition,
  type DashboardFilters,
  type DashboardView,
  dashboardView,
  RANGES,
  type RangeName,
} from "./dashboard-view.ts";
import { reportingSettings } from "./routes.ts";
import type { Scope } from "./series.ts";

/**
 * The live dashboard at /admin/dashboard: server-rendered tiles, uPlot charts drawn by a registered
 * script (never inline), and a server-sent event stream that sends the whole view again whenever
 * the ingest has moved. Each message's id is the ingest position; a browser that reconnects sends
 * it back as `Last-Event-ID` and gets the current view at once if anything moved meanwhile, so a
 * dropped connection loses nothing (the view is totals, not increments).
 *
 * Until the back office's signed-in surface exists, the page is guarded like the API: the admin key
 * (naming the merchant with `?merchant=`) or a merchant's secret key in the Authorization header.
 */
const here = dirname(fileURLToPath(import.meta.url));
registerAsset("dashboard.js", join(here, "assets", "dashboard.js"));
registerAsset("dashboard.css", join(here, "assets", "dashboard.css"));

export const dashboardCatalogues = loadCatalogues(join(here, "messages"));

/** How often a stream looks whether the ingest has moved. */
const STREAM_POLL_MS = 400;
const STREAM_HEARTBEAT_MS = 15_000;

export interface DashboardDeps {
  db: Db;
  clock: Clock;
  authenticate(authorization: string | undefined): Promise<AuthContext>;
}

type Query = Record<string, string | undefined>;

export interface Tile {
  path: string;
  label: string;
  value: number | null;
  text: string;
}

/** The tiles with their numbers formatted for the viewer's locale (the page and the stream alike). */
export function tilesOf(view: DashboardView, locale: Locale): Tile[] {
  const s = view.summary;
  const number = new Intl.NumberFormat(locale);
  const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
  const money = (amount: number) => formatMoney(amount, view.currency, locale);
  const ms = (value: number | null) => (value === null ? "—" : `${number.format(value)} ms`);
  const rate = (value: number | null) => (value === null ? "—" : percent.format(value));
  const tile = (path: string, label: string, value: number | null, text: string): Tile => ({
    path,
    label,
    value,
    text,
  });
  return [
    tile("revenue.total", "revenue", s.revenue.total, money(s.revenue.total)),
    tile("payments.total", "payments", s.payments.total, number.format(s.payments.total)),
    tile("acceptance.rate", "acceptance", s.acceptance.rate, rate(s.acceptance.rate)),
    tile("acceptance.abandoned", "abandoned", s.acceptance.abandoned, number.format(s.acceptance.abandoned)),
    tile("refunds.amount.total", "refunds", s.refunds.amount.total, money(s.refunds.amount.total)),
    tile("retries.recovered.total", "recovered", s.retries.recovered.total, money(s.retries.recovered.total)),
    tile(
      "subscriptions.active",
      "subscriptions",
      s.subscriptions.active,
      number.format(s.subscriptions.active),
    ),
    tile("subscriptions.mrr.total", "mrr", s.subscriptions.mrr.total, money(s.subscriptions.mrr.total)),
    tile(
      "webhooks.oldest_pending_ms",
      "webhook_lag",
      s.webhooks.oldest_pending_ms,
      ms(s.webhooks.oldest_pending_ms),
    ),
    tile("ingest.lag_ms", "ingest_lag", s.ingest.lag_ms, ms(s.ingest.lag_ms)),
  ];
}

/** Revenue per currency, formatted for the viewer (the stream refreshes the table with it). */
export function revenueRowsOf(
  view: DashboardView,
  locale: Locale,
): { currency: string; amount: number; text: string }[] {
  return view.summary.revenue.by_currency.map((row) => ({
    ...row,
    text: formatMoney(row.amount, row.currency, locale),
  }));
}

function localeOf(request: FastifyRequest): Locale {
  const query = request.query as Query;
  const cookie = /(?:^|;\s*)centime_lang=([a-z]{2})/.exec(request.headers.cookie ?? "")?.[1];
  return negotiateLocale(query.lang ?? cookie, request.headers["accept-language"], LOCALES);
}

function filtersOf(query: Query): DashboardFilters {
  const range = (query.range && query.range in RANGES ? query.range : "24h") as RangeName;
  const filters: DashboardFilters = { range };
  for (const name of ["app", "country", "operator", "method"] as const) {
    const value = query[name]?.trim();
    if (value) {
      if (value.length > 64) throw new ApiError("parameter_invalid", name, `'${name}' is too long.`);
      filters[name] = name === "country" ? value.toUpperCase() : value;
    }
  }
  return filters;
}

async function viewerScope(deps: DashboardDeps, request: FastifyRequest): Promise<Scope> {
  const auth = await deps.authenticate(request.headers.authorization);
  const query = request.query as Query;
  if (auth.kind === "admin") {
    const merchant = query.merchant;
    if (!merchant || !/^mer_[0-9a-z]{26}$/.test(merchant)) {
      throw new ApiError("parameter_missing", "merchant", "Name the merchant: ?merchant=mer_…");
    }
    return { merchantId: merchant, mode: query.mode === "live" ? "live" : "test" };
  }
  if (auth.kind !== "merchant" || auth.keyType !== "secret") throw new ApiError("secret_key_required");
  return { merchantId: auth.merchantId, mode: auth.mode };
}

/** The query string the page's filters and stream share (merchant and mode kept for the admin). */
function sharedQuery(query: Query, filters: DashboardFilters): string {
  const params = new URLSearchParams();
  if (query.merchant) params.set("merchant", query.merchant);
  if (query.mode === "live") params.set("mode", "live");
  params.set("range", filters.range);
  for (const name of ["app", "country", "operator", "method"] as const) {
    if (filters[name]) params.set(name, filters[name]);
  }
  return params.toString();
}

export function dashboardPages(deps: DashboardDeps): (pages: FastifyInstance) => Promise<void> {
  const streams = new Set<ServerResponse>();
  return async (pages) => {
    pages.addHook("onClose", async () => {
      for (const stream of streams) stream.end();
    });

    pages.get("/admin/dashboard", { schema: { hide: true } }, async (request, reply) => {
      const scope = await viewerScope(deps, request);
      const query = request.query as Query;
      const filters = filtersOf(query);
      const settings = await reportingSettings(deps.db, scope);
      const locale = localeOf(request);
      const computed = await dashboardView(deps.db, scope, filters, settings, deps.clock.nowMs());
      const view = {
        ...computed,
        tiles: tilesOf(computed, locale),
        revenueRows: revenueRowsOf(computed, locale),
      };
      return reply.page(
        "analytics/templates/dashboard",
        {
          view,
          filters,
          ranges: Object.keys(RANGES),
          merchant: query.merchant ?? "",
          mode: query.mode ?? "",
          streamUrl: `/admin/dashboard/stream?${sharedQuery(query, filters)}&lang=${locale}`,
          degraded: view.operators.filter((o) => o.status === "degraded"),
        },
        {
          title: "Dashboard",
          timeZone: settings.timeZone,
          scripts: ["uplot.min.js", "dashboard.js"],
          styles: ["uplot.min.css", "dashboard.css"],
        },
      );
    });

    pages.get("/admin/dashboard/stream", { schema: { hide: true } }, async (request, reply) => {
      const scope = await viewerScope(deps, request);
      const filters = filtersOf(request.query as Query);
      const settings = await reportingSettings(deps.db, scope);
      const locale = localeOf(request);
      const lastEventId = request.headers["last-event-id"];
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        connection: "keep-alive",
      });
      raw.write("retry: 1000\n\n");
      streams.add(raw);
      let sent = typeof lastEventId === "string" ? lastEventId : "";
      let busy = false;
      let lastWriteMs = Date.now();
      const push = async () => {
        if (busy || raw.writableEnded) return;
        busy = true;
        try {
          const position = await currentPosition(deps.db);
          if (position !== sent) {
            const computed = await dashboardView(deps.db, scope, filters, settings, deps.clock.nowMs());
            const view = {
              ...computed,
              tiles: tilesOf(computed, locale),
              revenueRows: revenueRowsOf(computed, locale),
            };
            raw.write(`id: ${view.position}\nevent: view\ndata: ${JSON.stringify(view)}\n\n`);
            sent = view.position;
            lastWriteMs = Date.now();
          } else if (Date.now() - lastWriteMs > STREAM_HEARTBEAT_MS) {
            raw.write(": still here\n\n");
            lastWriteMs = Date.now();
          }
        } catch (error) {
          request.log.error({ err: error }, "dashboard stream failed");
          raw.end();
        } finally {
          busy = false;
        }
      };
      const timer = setInterval(() => void push(), STREAM_POLL_MS);
      raw.on("close", () => {
        clearInterval(timer);
        streams.delete(raw);
      });
      await push();
    });
  };
}
