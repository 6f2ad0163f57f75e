import fastifyCookie from "@fastify/cookie";
import fastifyCsrf from "@fastify/csrf-protection";
import fastifyFormbody from "@fastify/formbody";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../platform/errors.ts";
import {
  type Catalogues,
  LOCALES,
  type Locale,
  loadCatalogues,
  Messages,
  mergeCatalogues,
  negotiateLocale,
} from "./i18n.ts";
import { addRateLimitHeaders, type PageRateLimiter } from "./rate-limit.ts";
import { pageHelpers, renderTemplate } from "./render.ts";
import { applyPageHeaders, type PagePolicy } from "./security.ts";

const WEB_CATALOGUES = loadCatalogues(new URL("./messages", import.meta.url).pathname);
const LOCALE_COOKIE = "centime_lang";

export interface PagesOptions {
  /** The capability's messages; the shared layout's are added. */
  catalogues?: Catalogues;
  /** Signs cookies (CSRF secrets). Every process of one installation must share it. */
  cookieSecret: string;
  /** `Secure` cookies: on whenever the public URL is https. */
  secureCookies: boolean;
  /** The locales this surface is translated into (all by default). */
  locales?: readonly Locale[];
  /** Requests per client address (public pages); every answer carries the RateLimit fields. */
  rateLimit?: PageRateLimiter;
  clock?: { nowMs(): number };
}

export interface RenderOptions {
  status?: number;
  /**
   * The page's title, before " · Centime": a message key of the surface's catalogues (the page's
   * heading, usually), translated like the page; text that is no key (an object's id) as it is.
   */
  title: string;
  titleValues?: Record<string, string | number>;
  policy?: PagePolicy;
  /** A locale decided by the page's data (a checkout session's locale), before the browser's. */
  locale?: string | null;
  timeZone?: string;
  htmx?: boolean;
  scripts?: readonly string[];
  styles?: readonly string[];
  /** A page that waits (an MO text, a processing payment) reloads itself without any script. */
  refreshSeconds?: number;
}

declare module "fastify" {
  interface FastifyReply {
    /** Renders a template as a full HTML page with the layout, headers, locale and CSRF token. */
    page(view: string, data: object, options: RenderOptions): FastifyReply;
    /** Renders a fragment (an htmx swap) with the same helpers and headers, without the layout. */
    fragment(view: string, data: object, options: RenderOptions): FastifyReply;
  }
  interface FastifyContextConfig {
    /** `false` for the rare form that cannot carry our token (a provider's callback). */
    csrf?: boolean;
  }
}

function chooseLocale(
  request: FastifyRequest,
  explicit: string | null | undefined,
  supported: readonly Locale[],
) {
  const query = request.query as Record<string, unknown> | undefined;
  const fromQuery = typeof query?.lang === "string" ? query.lang : undefined;
  const fromCookie = request.cookies?.[LOCALE_COOKIE];
  return negotiateLocale(fromQuery ?? explicit ?? fromCookie, request.headers["accept-language"], supported);
}

/**
 * A surface of server-rendered pages: form bodies, signed cookies, CSRF protection on every
 * state-changing request, strict security headers, localized rendering and HTML error pages.
 * Each capability registers its pages inside one of these, keeping its routes and templates in
 * its own folder:
 *
 *     app.register(pagesSurface({ cookieSecret, secureCookies, catalogues }, async (pages) => {
 *       pages.get("/checkout/:id", async (request, reply) =>
 *         reply.page("checkout/templates/summary", { session }, { title: "checkout.methods.title" }));
 *     }));
 */
/**
 * Thrown by a page that cannot be shown yet and knows where the visitor should go first (a
 * back-office page that needs a merchant chosen): answered 303 to `location`, a path of ours.
 */
export class PageRedirect extends Error {
  constructor(readonly location: string) {
    super(`redirect to ${location}`);
    if (!location.startsWith("/") || location.startsWith("//"))
      throw new Error("PageRedirect: a local path only");
  }
}

/** Where a visitor lost on a surface starts again: the back office, the portal, or the home page. */
export function startOf(url: string): string {
  const path = url.split("?")[0] ?? "/";
  for (const start of ["/admin", "/portal"]) if (path === start || path.startsWith(`${start}/`)) return start;
  return "/";
}

/**
 * A browser's request for a page: a GET or HEAD outside the API (`/v1/`) whose `Accept` names
 * HTML, as every browser's navigation does. API clients (any type, JSON) keep the JSON errors.
 */
export function wantsPage(request: FastifyRequest): boolean {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  const path = request.url.split("?")[0] ?? "";
  if (path === "/v1" || path.startsWith("/v1/")) return false;
  return /\btext\/html\b/i.test(request.headers.accept ?? "");
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return undefined;
}

const WEB_MESSAGES = new Messages(WEB_CATALOGUES);

/**
 * The HTML "page not found" for an address no route knows, localized like every page (`?lang=`,
 * the language cookie, `Accept-Language`), with a link to where the visitor can start again.
 * Outside any surface, so without a form or a CSRF token.
 */
export function notFoundPage(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const query = request.query as Record<string, unknown> | undefined;
  const locale = negotiateLocale(
    (typeof query?.lang === "string" ? query.lang : undefined) ??
      cookieValue(request.headers.cookie, LOCALE_COOKIE),
    request.headers["accept-language"],
  );
  const t = WEB_MESSAGES.translator(locale);
  const helpers = pageHelpers({ locale, t, csrf: "", title: t("error.status", { status: 404 }) });
  const body = renderTemplate("web/templates/error", {
    ...helpers,
    status: 404,
    messageKey: "error.not_found",
    detail: null,
    back: startOf(request.url),
  });
  applyPageHeaders(reply);
  reply.header("content-language", locale);
  reply.header("vary", "accept, accept-language, cookie");
  return reply
    .code(404)
    .type("text/html; charset=utf-8")
    .send(renderTemplate("web/templates/layout", { ...helpers, body }));
}

export function pagesSurface(
  options: PagesOptions,
  routes: (pages: FastifyInstance) => Promise<void> | void,
): (app: FastifyInstance) => Promise<void> {
  const messages = new Messages(mergeCatalogues(WEB_CATALOGUES, options.catalogues ?? {}));
  const supported = options.locales ?? LOCALES;

  return async (pages) => {
    await pages.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
    await pages.register(fastifyCookie, { secret: options.cookieSecret });
    await pages.register(fastifyCsrf, {
      sessionPlugin: "@fastify/cookie",
      cookieKey: "centime_csrf",
      cookieOpts: {
        signed: true,
        httpOnly: true,
        sameSite: "lax",
        path: "/",
        secure: options.secureCookies,
      },
    });

    const render = (
      request: FastifyRequest,
      reply: FastifyReply,
      view: string,
      data: object,
      opts: RenderOptions,
      withLayout: boolean,
    ) => {
      const locale = chooseLocale(request, opts.locale, supported);
      const t = messages.translator(locale);
      const helpers = pageHelpers({
        locale,
        t,
        csrf: reply.generateCsrf(),
        title: t(opts.title, opts.titleValues),
        timeZone: opts.timeZone,
        htmx: opts.htmx,
        scripts: opts.scripts,
        styles: opts.styles,
        refreshSeconds: opts.refreshSeconds,
      });
      const body = renderTemplate(view, { ...helpers, ...data });
      const html = withLayout ? renderTemplate("web/templates/layout", { ...helpers, body }) : body;
      applyPageHeaders(reply, opts.policy);
      reply.header("content-language", locale);
      reply.header("vary", "accept-language, cookie");
      return reply
        .code(opts.status ?? 200)
        .type("text/html; charset=utf-8")
        .send(html);
    };

    pages.decorateReply(
      "page",
      function (this: FastifyReply, view: string, data: object, opts: RenderOptions) {
        return render(this.request, this, view, data, opts, true);
      },
    );
    pages.decorateReply(
      "fragment",
      function (this: FastifyReply, view: string, data: object, opts: RenderOptions) {
        return render(this.request, this, view, data, opts, false);
      },
    );

    // Requests per client address, before anything else is done for them.
    const limiter = options.rateLimit;
    if (limiter?.enabled) {
      pages.addHook("onRequest", async (request, reply) => {
        const take = limiter.take(`ip:${request.ip}`, options.clock?.nowMs() ?? Date.now());
        addRateLimitHeaders(reply, limiter.policyHeader, limiter.stateHeader(take));
        if (!take.allowed) {
          reply.header("Retry-After", String(take.retryAfterSeconds));
          throw new ApiError("rate_limited");
        }
      });
    }

    // A chosen language sticks (`?lang=fr` once, then every page of the surface).
    pages.addHook("onRequest", async (request, reply) => {
      const query = request.query as Record<string, unknown> | undefined;
      const lang = query?.lang;
      if (typeof lang === "string" && (supported as readonly string[]).includes(lang)) {
        reply.setCookie(LOCALE_COOKIE, lang, {
          path: "/",
          sameSite: "lax",
          httpOnly: true,
          secure: options.secureCookies,
          maxAge: 365 * 24 * 3600,
        });
      }
    });

    pages.addHook("preHandler", (request, reply, done) => {
      const safe = request.method === "GET" || request.method === "HEAD" || request.method === "OPTIONS";
      if (safe || request.routeOptions.config?.csrf === false) return done();
      pages.csrfProtection(request, reply, done);
    });

    pages.setErrorHandler((error: FastifyError, request, reply) => {
      if (error instanceof PageRedirect) return reply.redirect(error.location, 303);
      const status =
        error instanceof ApiError
          ? error.status
          : error.statusCode && error.statusCode >= 400 && error.statusCode < 500
            ? error.statusCode
            : 500;
      if (status >= 500) request.log.error({ err: error, url: request.url.split("?")[0] }, "page failed");
      const known = error instanceof ApiError && status < 500;
      const csrfRefused = typeof error.code === "string" && error.code.startsWith("FST_CSRF");
      return render(
        request,
        reply,
        "web/templates/error",
        {
          status,
          messageKey: csrfRefused
            ? "error.csrf"
            : status === 404
              ? "error.not_found"
              : status === 429
                ? "error.rate_limited"
                : status >= 500
                  ? "error.server"
                  : "error.request",
          detail: known ? error.message : null,
          back: startOf(request.url),
        },
        { status, title: "error.status", titleValues: { status } },
        true,
      );
    });

    await routes(pages);
  };
}
