import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../platform/errors.ts";
import { ipCountryFrom } from "../risk/index.ts";
import type { RenderOptions } from "../web/index.ts";
import { expireSession, followPayment, loadPayment, type PaymentView } from "./attempts.ts";
import type { CheckoutContext } from "./context.ts";
import type { SessionRow, Step } from "./model.ts";
import { findSession } from "./sessions.ts";
import { recordStep, type StepDetails } from "./steps.ts";
import type { Throttle } from "./throttle.ts";

/**
 * What every page of the hosted checkout shares: the session behind the URL, the form token, the
 * frame policy from the app's allowed origins, the summary shown on every page, and where the
 * payer should be given the session's state.
 *
 * Forms carry a token bound to the session (an HMAC of its id) rather than the cookie-based CSRF
 * token of other surfaces: inside a merchant's iframe the browser withholds our cookies, and the
 * checkout's forms act on a session, not on anyone's signed-in account. POSTs from another origin
 * are refused as well (the Origin header).
 */
export interface SessionView {
  session: SessionRow;
  merchantName: string;
  appName: string | null;
  allowedOrigins: string[];
  token: string;
}

export interface PageKit {
  ctx: CheckoutContext;
  throttle: Throttle;
  /** The open session of the URL, or a redirect/refusal already sent. */
  load(request: FastifyRequest): Promise<SessionView>;
  /** Checks a form's token and origin; throws the CSRF refusal page. */
  checkForm(request: FastifyRequest, view: SessionView): void;
  render(
    reply: FastifyReply,
    view: SessionView,
    template: string,
    data: object,
    options: Partial<RenderOptions> & { title: string },
  ): FastifyReply;
  /** Where the payer belongs now: the page of the payment in flight, the outcome, or the method list. */
  nextUrl(view: SessionView, payment?: PaymentView | null): string;
  step(view: SessionView, step: Step, details?: StepDetails): Promise<void>;
  /**
   * A value sealed for one session's URL (AES-256-GCM under a key of the session secret and the
   * session): what a page must carry across a redirect without showing or logging it (a number).
   */
  seal(view: SessionView, value: string): string;
  /** The sealed value, or null when it was changed, cut, or sealed for another session. */
  unseal(view: SessionView, sealed: string): string | null;
  /** The client's address, for limits. */
  clientIp(request: FastifyRequest): string;
  /** The payer as this request reports it, for the risk engine (startPayment). */
  payer(request: FastifyRequest): PagePayer;
}

/**
 * What a page request says about the payer: the address, its country from the trusted proxy's
 * header, and whether the browser says this document is framed (`Sec-Fetch-Dest: iframe`).
 * Reported by the client, not proven: docs/risk.md.
 */
export interface PagePayer {
  ip: string;
  ipCountry?: string;
  framed?: boolean;
}

/** Whether the browser says the request loads a framed document (absent header: unknown). */
export function framedByFetchDest(request: FastifyRequest): boolean | undefined {
  const dest = request.headers["sec-fetch-dest"];
  if (typeof dest !== "string" || dest === "") return undefined;
  return dest === "iframe" || dest === "frame";
}

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32}$/;

export function formToken(secret: string, sessionId: string): string {
  return createHmac("sha256", secret).update(`checkout-form|${sessionId}`).digest("base64url").slice(0, 32);
}

function sealKey(secret: string, sessionId: string): Buffer {
  return createHmac("sha256", secret).update(`checkout-seal|${sessionId}`).digest();
}

function csrfRefusal(): FastifyError {
  const error = new Error("The form token is missing or wrong.") as FastifyError;
  (error as { code: string }).code = "FST_CSRF_INVALID_TOKEN";
  (error as { statusCode: number }).statusCode = 403;
  return error;
}

export function createPageKit(ctx: CheckoutContext, secret: string, throttle: Throttle): PageKit {
  const ownOrigin = () => new URL(ctx.publicUrl()).origin;

  const kit: PageKit = {
    ctx,
    throttle,
    async load(request) {
      const id = (request.params as { id?: string }).id ?? "";
      let session = await findSession(ctx.db, id);
      if (!session)
        throw new ApiError("resource_missing", undefined, "There is no payment page at this address.");
      if (session.status === "open" && session.expires_at.getTime() <= ctx.clock.nowMs()) {
        session = await expireSession(ctx, session);
      }
      const { rows } = await ctx.db.query<{
        merchant_name: string;
        app_name: string | null;
        allowed_origins: string[] | null;
      }>(
        `select m.name as merchant_name, a.name as app_name, a.allowed_origins
           from merchants m left join checkout_apps a on a.id = $2 where m.id = $1`,
        [session.merchant_id, session.app_id],
      );
      const row = rows[0];
      return {
        session,
        merchantName: row?.merchant_name ?? "",
        appName: row?.app_name ?? null,
        allowedOrigins: row?.allowed_origins ?? [],
        token: formToken(secret, session.id),
      };
    },
    checkForm(request, view) {
      const origin = request.headers.origin;
      if (origin !== undefined && origin !== "null" && origin !== ownOrigin()) {
        // Behind a proxy the public URL is the origin; on a direct connection the Host header is.
        const host = request.headers.host;
        if (!host || (origin !== `http://${host}` && origin !== `https://${host}`)) throw csrfRefusal();
      }
      const given = (request.body as Record<string, unknown> | undefined)?._token;
      if (typeof given !== "string" || !TOKEN_PATTERN.test(given)) throw csrfRefusal();
      if (!timingSafeEqual(Buffer.from(given), Buffer.from(view.token))) throw csrfRefusal();
    },
    render(reply, view, template, data, options) {
      return reply.page(
        template,
        { ...data, view, session: view.session },
        {
          ...options,
          locale: view.session.locale,
          policy: { ...options.policy, frameAncestors: view.allowedOrigins },
          styles: ["checkout.css"],
          scripts: ["checkout.js"],
        },
      );
    },
    nextUrl(view, payment) {
      const base = `/checkout/${view.session.id}`;
      if (view.session.status === "complete") return `${base}/done`;
      if (view.session.status === "expired") return base;
      if (!payment) return base;
      const action = payment.next_action;
      if (payment.status === "requires_action" && action?.type === "enter_pin") return `${base}/carrier/pin`;
      if (payment.status === "requires_action" && action?.type === "send_mo") return `${base}/carrier/mo`;
      if (payment.status === "requires_action" && action?.type === "redirect_to_url")
        return action.redirect_to_url.url;
      if (payment.status === "processing" || payment.status === "requires_action")
        return `${base}/processing`;
      return base;
    },
    async step(view, step, details = {}) {
      await recordStep(ctx.db, view.session, step, details, ctx.clock.nowMs());
    },
    seal(view, value) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", sealKey(secret, view.session.id), iv);
      const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
    },
    unseal(view, sealed) {
      const raw = /^[A-Za-z0-9_-]{40,400}$/.test(sealed) ? Buffer.from(sealed, "base64url") : null;
      if (!raw || raw.length < 29) return null;
      try {
        const decipher = createDecipheriv(
          "aes-256-gcm",
          sealKey(secret, view.session.id),
          raw.subarray(0, 12),
        );
        decipher.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
      } catch {
        return null;
      }
    },
    clientIp(request) {
      return request.ip;
    },
    payer(request) {
      const ipCountry = ipCountryFrom(request.headers, ctx.settings.ipCountryHeader);
      const framed = framedByFetchDest(request);
      return {
        ip: request.ip,
        ...(ipCountry ? { ipCountry } : {}),
        ...(framed !== undefined ? { framed } : {}),
      };
    },
  };
  return kit;
}

/** The session's payment in flight, brought up to date (null when there is none). */
export async function paymentInFlight(kit: PageKit, view: SessionView): Promise<PaymentView | null> {
  const id = view.session.payment_id;
  if (!id || id.startsWith("claim:") || view.session.status !== "open") return null;
  const followed = await followPayment(kit.ctx, view.session.id, id);
  view.session = followed.session;
  return followed.session.status === "open" && followed.session.payment_id === id ? followed.payment : null;
}

export { loadPayment };
