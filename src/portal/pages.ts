import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  blockMerchant,
  cancelOwnSubscription,
  consentEvidence,
  edgeThrottleFields,
  HISTORY_DAYS_DEFAULT,
  identityOf,
  listPayerPayments,
  listPayerRefundRequests,
  listPayerSubscriptions,
  loadPayer,
  maskIdentity,
  type PayerAuth,
  type Payers,
  presentPayer,
  presentPayerPayment,
  presentPayerSubscription,
  refreshSession,
  requestCode,
  requestRefund,
  signInWithCode,
  unblockMerchant,
  updateSettings,
  verifyAccessToken,
} from "../payers/index.ts";
import { ApiError } from "../platform/errors.ts";
import { isCurrency, minorDigits } from "../platform/money.ts";
import { ipCountryFrom } from "../risk/index.ts";
import { addRateLimitHeaders, negotiateLocale, parseMajorAmount } from "../web/index.ts";
import { registerIdentityPages } from "./identity-pages.ts";
import { LANGUAGES } from "./index.ts";

/**
 * The payer portal (`/portal`): sign in with a code sent to a number or an address, then one page
 * with six months of charges, subscriptions (cancel in one step, the consent record), refund
 * requests and their answers, a monthly spending cap and blocked sellers. Plain HTML forms, each
 * POST with the page's CSRF token; the session is a signed, HttpOnly cookie holding the payer's
 * short-lived token and its refresh token (rotated when the token has expired).
 */

const COOKIE = "centime_payer";
const DONE = new Set([
  "canceled",
  "refund_approved",
  "refund_pending",
  "cap",
  "blocked",
  "unblocked",
  "identity",
]);
const ERRORS: Record<string, string> = { refund: "portal.error.refund", amount: "portal.error.amount" };

type Form = Record<string, unknown>;

/** The page's language (as the pages surface chooses it), for the text of the code message. */
function pageLocale(request: FastifyRequest): string {
  const lang = (request.query as Record<string, unknown> | undefined)?.lang;
  return negotiateLocale(
    typeof lang === "string" ? lang : request.cookies.centime_lang,
    request.headers["accept-language"],
  );
}

function field(body: unknown, name: string): string {
  const value = (body as Form | undefined)?.[name];
  return typeof value === "string" ? value.trim() : "";
}

export function portalPages(payers: Payers, options: { secureCookies: boolean }) {
  const { ctx } = payers;
  const cookieOptions = {
    path: "/portal",
    httpOnly: true,
    sameSite: "lax" as const,
    secure: options.secureCookies,
    signed: true,
  };

  function keep(reply: FastifyReply, session: { token: string; refresh_token: string }): void {
    reply.setCookie(COOKIE, `${session.token} ${session.refresh_token}`, cookieOptions);
  }

  /** The signed-in payer, refreshing an expired token once; null when signed out. */
  async function current(request: FastifyRequest, reply: FastifyReply): Promise<PayerAuth | null> {
    const raw = request.cookies[COOKIE];
    if (!raw) return null;
    const unsigned = request.unsignCookie(raw);
    if (!unsigned.valid || !unsigned.value) return null;
    const [token = "", refresh = ""] = unsigned.value.split(" ");
    const claims = await verifyAccessToken(ctx.tokenKey, token, ctx.clock.nowMs());
    if (claims) return claims;
    try {
      const next = await refreshSession(ctx, { refresh_token: refresh });
      keep(reply, next);
      return verifyAccessToken(ctx.tokenKey, next.token, ctx.clock.nowMs());
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      reply.clearCookie(COOKIE, { path: "/portal" });
      return null;
    }
  }

  const render = {
    signin(
      reply: FastifyReply,
      data: { value?: string; error?: string; errorValues?: object; status?: number },
    ) {
      return reply.page(
        "portal/templates/signin",
        { value: "", languages: LANGUAGES, signedIn: false, ...data },
        { title: "portal.signin.title", status: data.status ?? 200, styles: ["portal.css"] },
      );
    },
    code(
      reply: FastifyReply,
      data: { contact: string; masked: string; error?: string; errorValues?: object; status?: number },
    ) {
      return reply.page(
        "portal/templates/code",
        { signedIn: false, ...data },
        { title: "portal.code.title", status: data.status ?? 200, styles: ["portal.css"] },
      );
    },
  };

  function throttleMinutes(error: ApiError): number {
    return Math.max(1, Math.ceil(Number(error.headers?.["Retry-After"] ?? 60) / 60));
  }

  /** A refused sign-in page says when to come back, in minutes and in Retry-After. */
  function retryAfter(reply: FastifyReply, error: ApiError): void {
    reply.header("Retry-After", error.headers?.["Retry-After"] ?? "60");
  }

  /** The sign-in edge's throttles, in the RateLimit fields after the per-address policy. */
  function throttleFields(
    reply: FastifyReply,
    edge: "codes" | "signin",
    identity: { kind: string; value: string } | null,
    ip: string,
  ): void {
    const input = identity ? { [identity.kind]: identity.value } : {};
    for (const f of edgeThrottleFields(ctx, edge, input, ip)) addRateLimitHeaders(reply, f.policy, f.state);
  }

  async function home(request: FastifyRequest, reply: FastifyReply, auth: PayerAuth) {
    const query = request.query as Record<string, unknown>;
    const nowMs = ctx.clock.nowMs();
    const payer = await presentPayer(ctx.db, await loadPayer(ctx.db, auth.payerId));
    const payments = (
      await listPayerPayments(ctx.db, auth, {
        limit: 100,
        sinceMs: nowMs - HISTORY_DAYS_DEFAULT * 86_400_000,
      })
    ).rows.map(presentPayerPayment);
    const subscriptions = (await listPayerSubscriptions(ctx.db, auth, { limit: 100 })).rows.map(
      presentPayerSubscription,
    );
    const requests = (await listPayerRefundRequests(ctx.db, auth, { limit: 100 })).rows;
    const merchants = new Map<string, string>();
    for (const item of [...payments, ...subscriptions]) merchants.set(item.merchant.id, item.merchant.name);
    const currencies = new Set<string>([
      ...payments.map((p) => p.currency),
      ...subscriptions.map((s) => s.currency),
      ...Object.keys(payer.monthly_caps),
    ]);
    if (currencies.size === 0) currencies.add("EUR");
    const done = typeof query.done === "string" && DONE.has(query.done) ? query.done : null;
    const error = typeof query.error === "string" ? (ERRORS[query.error] ?? null) : null;
    const confirmed = payer.identities.filter((i) => i.confirmed).map((i) => i.value);
    return reply.page(
      "portal/templates/home",
      {
        // Isolated left to right: "+336…" stays whole inside a right-to-left sentence.
        who: `\u2066${confirmed.join(", ") || payer.email || payer.id}\u2069`,
        testData: payments.some((p) => !p.livemode) || subscriptions.some((s) => !s.livemode),
        done,
        error: error === "portal.error.amount" ? null : error,
        capError: error === "portal.error.amount",
        ...capRetry(query, currencies),
        payments,
        subscriptions,
        requests,
        caps: Object.entries(payer.monthly_caps).map(([currency, amount]) => ({ currency, amount })),
        currencies: [...currencies].filter(isCurrency).sort(),
        merchants: [...merchants].map(([id, name]) => ({
          id,
          name,
          blocked: payer.blocked_merchants.includes(id),
        })),
        identities: payer.identities.filter((i) => i.confirmed),
        languages: LANGUAGES,
      },
      { title: "portal.title", styles: ["portal.css"] },
    );
  }

  /**
   * The cap form as the payer left it when an amount was refused: the currency they chose and what
   * they typed, and whether that currency has decimals (the hint's example follows it).
   */
  function capRetry(query: Record<string, unknown>, currencies: ReadonlySet<string>) {
    const chosen =
      typeof query.currency === "string" && currencies.has(query.currency) ? query.currency : null;
    const typed = typeof query.amount === "string" ? query.amount.slice(0, 16) : "";
    return {
      capCurrency: chosen,
      capAmount: chosen ? typed : "",
      capDecimals: chosen && isCurrency(chosen) && minorDigits(chosen) === 0 ? "none" : "some",
    };
  }

  /** A signed-in POST: the action, then back to the page (303) saying what happened. */
  async function act(
    request: FastifyRequest,
    reply: FastifyReply,
    work: (auth: PayerAuth) => Promise<string>,
  ): Promise<FastifyReply> {
    const auth = await current(request, reply);
    if (!auth) return reply.redirect("/portal", 303);
    return reply.redirect(`/portal?${await work(auth)}`, 303);
  }

  return async (pages: FastifyInstance) => {
    const hidden = { schema: { hide: true } } as const;
    registerIdentityPages(pages, payers, {
      current,
      throttleFields,
      throttleMinutes,
      retryAfter,
      field,
      locale: pageLocale,
    });

    pages.get("/portal", hidden, async (request, reply) => {
      const auth = await current(request, reply);
      return auth ? home(request, reply, auth) : render.signin(reply, {});
    });

    pages.post("/portal/code", hidden, async (request, reply) => {
      const contact = field(request.body, "contact");
      let identity: ReturnType<typeof identityOf>;
      try {
        identity = identityOf(contact.includes("@") ? { email: contact } : { msisdn: contact });
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        throttleFields(reply, "codes", null, request.ip);
        return render.signin(reply, { value: contact, error: "portal.error.contact", status: 400 });
      }
      try {
        const sent = await requestCode(
          ctx,
          { [identity.kind]: identity.value, locale: pageLocale(request) },
          request.ip,
          ipCountryFrom(request.headers, ctx.ipCountryHeader),
        );
        throttleFields(reply, "codes", identity, request.ip);
        return render.code(reply, { contact: identity.value, masked: sent.to });
      } catch (error) {
        throttleFields(reply, "codes", identity, request.ip);
        if (error instanceof ApiError && error.code === "rate_limited") {
          retryAfter(reply, error);
          return render.signin(reply, {
            value: contact,
            error: "portal.error.throttled",
            errorValues: { minutes: throttleMinutes(error) },
            status: 429,
          });
        }
        throw error;
      }
    });

    pages.post("/portal/signin", hidden, async (request, reply) => {
      const contact = field(request.body, "contact");
      const code = field(request.body, "code").replace(/\s/g, "");
      let identity: ReturnType<typeof identityOf>;
      try {
        identity = identityOf(contact.includes("@") ? { email: contact } : { msisdn: contact });
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        throttleFields(reply, "signin", null, request.ip);
        return render.signin(reply, { value: contact, error: "portal.error.contact", status: 400 });
      }
      try {
        const session = await signInWithCode(
          ctx,
          { [identity.kind]: identity.value, code },
          request.ip,
          ipCountryFrom(request.headers, ctx.ipCountryHeader),
        );
        keep(reply, session);
        throttleFields(reply, "signin", identity, request.ip);
        return reply.redirect("/portal", 303);
      } catch (error) {
        throttleFields(reply, "signin", identity, request.ip);
        if (!(error instanceof ApiError)) throw error;
        const throttled = error.code === "rate_limited";
        if (throttled) retryAfter(reply, error);
        return render.code(reply, {
          contact: identity.value,
          // Masked as on the first try: the page may be read over the payer's shoulder.
          masked: maskIdentity(identity),
          error: throttled ? "portal.error.throttled" : "portal.error.code",
          errorValues: throttled ? { minutes: throttleMinutes(error) } : {},
          status: throttled ? 429 : 401,
        });
      }
    });

    pages.post("/portal/signout", hidden, async (_request, reply) => {
      reply.clearCookie(COOKIE, { path: "/portal" });
      return reply.redirect("/portal", 303);
    });

    pages.post<{ Params: { id: string } }>(
      "/portal/subscriptions/:id/cancel",
      hidden,
      async (request, reply) =>
        act(request, reply, async (auth) => {
          await cancelOwnSubscription(ctx, auth, request.params.id);
          return "done=canceled#subscriptions";
        }),
    );

    pages.post<{ Params: { id: string } }>("/portal/payments/:id/refund", hidden, async (request, reply) =>
      act(request, reply, async (auth) => {
        const reason = field(request.body, "reason").slice(0, 500);
        try {
          const { request: made } = await requestRefund(ctx, auth, {
            payment: request.params.id,
            ...(reason ? { reason } : {}),
          });
          return made.status === "approved" ? "done=refund_approved" : "done=refund_pending";
        } catch (error) {
          if (error instanceof ApiError && error.code === "payment_unexpected_state") return "error=refund";
          throw error;
        }
      }),
    );

    pages.post("/portal/caps", hidden, async (request, reply) =>
      act(request, reply, async (auth) => {
        const currency = field(request.body, "currency");
        const text = field(request.body, "amount");
        if (!isCurrency(currency)) return "error=amount#cap";
        if (text === "") {
          await updateSettings(ctx, auth, { monthly_caps: { [currency]: null } });
          return "done=cap#cap";
        }
        const amount = parseMajorAmount(text, currency);
        // Back to the form with what was chosen and typed, so a fix is one character, not a redo.
        if (amount === null || amount > 9_999_999_999n)
          return `error=amount&currency=${currency}&amount=${encodeURIComponent(text.slice(0, 16))}#cap`;
        await updateSettings(ctx, auth, { monthly_caps: { [currency]: Number(amount) } });
        return "done=cap#cap";
      }),
    );

    pages.post<{ Params: { id: string } }>("/portal/merchants/:id/block", hidden, async (request, reply) =>
      act(request, reply, async (auth) => {
        await blockMerchant(ctx, auth, request.params.id);
        return "done=blocked#sellers";
      }),
    );

    pages.post<{ Params: { id: string } }>("/portal/merchants/:id/unblock", hidden, async (request, reply) =>
      act(request, reply, async (auth) => {
        await unblockMerchant(ctx, auth, request.params.id);
        return "done=unblocked#sellers";
      }),
    );

    pages.get<{ Params: { id: string } }>(
      "/portal/subscriptions/:id/consent",
      hidden,
      async (request, reply) => {
        const auth = await current(request, reply);
        if (!auth) return reply.redirect("/portal", 303);
        const evidence = await consentEvidence(ctx.db, auth, request.params.id, ctx.clock.nowMs());
        return reply
          .header("content-disposition", `attachment; filename="consent-${evidence.subscription.id}.json"`)
          .header("cache-control", "no-store")
          .type("application/json; charset=utf-8")
          .send(JSON.stringify(evidence, null, 2));
      },
    );
  };
}
