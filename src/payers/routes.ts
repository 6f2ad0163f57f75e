import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { type Api, IdParams, listBody, type Routes, sendJson } from "../http/index.ts";
import { claimOpenKey, completeKey, type IdempotencyContext, releaseOpenKey } from "../idempotency/index.ts";
import { listCaughtMessages } from "../notifications/index.ts";
import { ApiError } from "../platform/errors.ts";
import { ipCountryFrom } from "../risk/index.ts";
import { addRateLimitHeaders, type PageRateLimiter } from "../web/index.ts";
import {
  authenticatePayer,
  edgeThrottleFields,
  loadPayer,
  presentPayer,
  refreshSession,
  requestCode,
  signInWithCode,
  signInWithPassword,
  signUp,
} from "./accounts.ts";
import type { PayerAuth } from "./context.ts";
import { consentEvidence } from "./evidence.ts";
import { linkIdentity, requestLinkCode } from "./identities.ts";
import type { Payers } from "./index.ts";
import {
  approveRefundRequest,
  declineRefundRequest,
  getRefundRequest,
  listPayerRefundRequests,
  listRefundRequests,
  loadPolicy,
  presentRefundRequest,
  requestRefund,
  setPolicy,
} from "./refund-requests.ts";
import {
  CodeBody,
  DeclineBody,
  EmptyBody,
  LinkIdentityBody,
  List,
  Message,
  MessagesQuery,
  Payer,
  PayerCode,
  PayerListQuery,
  PayerPayment,
  PayerSession,
  PayerSettingsBody,
  PayerSubscription,
  RefreshBody,
  RefundPolicy,
  RefundPolicyBody,
  RefundRequest,
  RefundRequestBody,
  RefundRequestsQuery,
  SessionBody,
  SignUpBody,
  withErrors,
} from "./routes-schemas.ts";
import { blockMerchant, cancelOwnSubscription, unblockMerchant, updateSettings } from "./self-care.ts";
import {
  HISTORY_DAYS_DEFAULT,
  listPayerPayments,
  listPayerSubscriptions,
  presentPayerPayment,
  presentPayerSubscription,
} from "./views.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The payer of a verified access token (payer routes only). */
    payer?: PayerAuth;
  }
  interface FastifyContextConfig {
    /** A payer route: payer tokens, not merchant keys (outside the merchants' permission catalogue). */
    payer?: boolean;
  }
}

const tags = ["payers"];
const payerConfig = { payer: true } as const;
const security = [{ bearer: [] }];

function payerOf(request: FastifyRequest): PayerAuth {
  if (!request.payer) throw new ApiError("payer_token_invalid");
  return request.payer;
}

/**
 * A payer's POST with an Idempotency-Key: the key (scoped to the payer) is claimed before the work
 * and the answer stored after it, so a retry replays; without a key the work runs as asked (each
 * payer write is idempotent in itself: one refund request per payment, cancel once).
 */
async function payerWrite(
  payers: Payers,
  request: FastifyRequest,
  reply: FastifyReply,
  work: () => Promise<{ status: number; body: unknown }>,
) {
  const auth = payerOf(request);
  const scope = { merchantId: auth.payerId, mode: "payer" };
  const { db, clock } = payers.ctx;
  const response = await payers.gate.run(
    scope,
    {
      method: request.method,
      path: request.url.split("?")[0]!,
      body: request.body,
      header: request.headers["idempotency-key"],
    },
    async (idempotency: IdempotencyContext | undefined) => {
      if (idempotency) await db.transaction((tx) => claimOpenKey(tx, scope, idempotency, clock.nowMs()));
      let result: { status: number; body: unknown };
      try {
        result = await work();
      } catch (error) {
        if (idempotency) await releaseOpenKey(db, scope, idempotency.key);
        throw error;
      }
      const answer = { statusCode: result.status, body: JSON.stringify(result.body) };
      if (idempotency) await completeKey(db, scope, idempotency.key, answer);
      return answer;
    },
  );
  if (response.replayed) reply.header("Idempotent-Replayed", "true");
  return sendJson(reply, response.statusCode, response.body);
}

function rateLimited(retryAfterSeconds: number): ApiError {
  return new ApiError("rate_limited", undefined, undefined, { "Retry-After": String(retryAfterSeconds) });
}

/**
 * Runs a sign-up or sign-in edge's work and, whatever its outcome, appends its throttles to the
 * RateLimit fields (read after the work: what is left for the next request).
 */
async function withThrottleFields(
  reply: FastifyReply,
  fields: () => { policy: string; state: string }[],
  work: () => Promise<{ status: number; body: unknown }>,
): Promise<FastifyReply> {
  const add = () => {
    for (const field of fields()) addRateLimitHeaders(reply, field.policy, field.state);
  };
  let result: { status: number; body: unknown };
  try {
    result = await work();
  } catch (error) {
    add();
    throw error;
  }
  add();
  return sendJson(reply, result.status, result.body);
}

/**
 * The payers' API under /v1: sign-up and sign-in without a key, then everything under
 * `/v1/payer/` with `Authorization: Bearer <payer token>`. Its own surface: merchant keys mean
 * nothing here, and payer tokens mean nothing on the merchants' surfaces.
 *
 * `rateLimit`: requests per client address, counted before anything else (a bad token too), with
 * the IETF RateLimit fields on every answer and 429 + Retry-After past it.
 */
export function payerApi(payers: Payers, options: { rateLimit?: PageRateLimiter } = {}): FastifyPluginAsync {
  const limiter = options.rateLimit;
  return async (root) => {
    await root.register(
      async (plain) => {
        if (limiter?.enabled)
          plain.addHook("onRequest", async (request, reply) => {
            const take = limiter.take(`ip:${request.ip}`, payers.ctx.clock.nowMs());
            addRateLimitHeaders(reply, limiter.policyHeader, limiter.stateHeader(take));
            if (!take.allowed) throw rateLimited(take.retryAfterSeconds);
          });
        plain.addHook("onRequest", async (request) => {
          const url = request.routeOptions.url ?? "";
          if (url.startsWith("/v1/payer/"))
            request.payer = await authenticatePayer(payers.ctx, request.headers.authorization);
        });
        plain.addHook("preValidation", async (request) => {
          if (request.method === "POST" && request.body === undefined) request.body = {};
        });
        await routes(plain.withTypeProvider<TypeBoxTypeProvider>(), payers);
      },
      { prefix: "/v1" },
    );
  };
}

const routes: Routes<Payers> = async (app: Api, payers) => {
  const { ctx } = payers;

  app.post(
    "/payers",
    {
      config: payerConfig,
      schema: {
        tags,
        operationId: "createPayer",
        summary: "Create a payer account with an e-mail address and a password (no key needed).",
        description:
          "The address stays unconfirmed (it matches no payments) until the payer signs in once with a code sent to it.",
        security: [],
        body: SignUpBody,
        response: withErrors({ 201: Payer }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "signup", {}, request.ip),
        async () => ({ status: 201, body: await signUp(ctx, request.body, request.ip) }),
      ),
  );

  app.post(
    "/payer_sessions/codes",
    {
      config: payerConfig,
      schema: {
        tags,
        operationId: "createPayerCode",
        summary: "Send a one-time sign-in code by SMS to an MSISDN or by e-mail.",
        description:
          "Answers the same whether an account exists or not. A code lives 10 minutes and allows 5 attempts; a new code replaces the last. Throttled per recipient and per address (429).",
        security: [],
        body: CodeBody,
        response: withErrors({ 202: PayerCode }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "codes", request.body, request.ip),
        async () => ({
          status: 202,
          body: await requestCode(
            ctx,
            request.body,
            request.ip,
            ipCountryFrom(request.headers, ctx.ipCountryHeader),
          ),
        }),
      ),
  );

  app.post(
    "/payer_sessions",
    {
      config: payerConfig,
      schema: {
        tags,
        operationId: "createPayerSession",
        summary:
          "Sign in: `{email, password}` or `{msisdn | email, code}` → a short-lived token and a refresh token.",
        description:
          "A code sign-in creates the account on first use and confirms the identity. Failed sign-ins are throttled per subject and per address (429).",
        security: [],
        body: SessionBody,
        response: withErrors({ 201: PayerSession }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "signin", request.body, request.ip),
        () => signIn(request.body, request.ip, ipCountryFrom(request.headers, ctx.ipCountryHeader)),
      ),
  );

  /** `{email, password}` or `{msisdn | email, code}`. */
  async function signIn(
    body: Static<typeof SessionBody>,
    ip: string,
    ipCountry: string | undefined,
  ): Promise<{ status: number; body: unknown }> {
    if (body.code !== undefined) {
      if (body.password !== undefined)
        throw new ApiError("parameter_invalid", "password", "Send a password or a code, not both.");
      return {
        status: 201,
        body: await signInWithCode(ctx, { ...body, code: body.code }, ip, ipCountry),
      };
    }
    if (body.password === undefined)
      throw new ApiError("parameter_missing", "code", "Send a code or a password.");
    if (body.email === undefined) throw new ApiError("parameter_missing", "email");
    if (body.msisdn !== undefined)
      throw new ApiError("parameter_invalid", "msisdn", "Sign in to a number with a code, not a password.");
    return {
      status: 201,
      body: await signInWithPassword(ctx, { email: body.email, password: body.password }, ip, ipCountry),
    };
  }

  app.post(
    "/payer_sessions/refresh",
    {
      config: payerConfig,
      schema: {
        tags,
        operationId: "refreshPayerSession",
        summary: "Exchange a refresh token (good once) for a new session; a reused one revokes its family.",
        security: [],
        body: RefreshBody,
        response: withErrors({ 201: PayerSession }),
      },
    },
    async (request, reply) => sendJson(reply, 201, await refreshSession(ctx, request.body)),
  );

  app.get(
    "/payer/account",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "getPayerAccount",
        summary: "The signed-in payer: identities, caps, blocked merchants.",
        response: withErrors({ 200: Payer }),
      },
    },
    async (request, reply) => {
      const payer = await loadPayer(ctx.db, payerOf(request).payerId);
      return sendJson(reply, 200, await presentPayer(ctx.db, payer));
    },
  );

  app.post(
    "/payer/identities/codes",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "createPayerIdentityCode",
        summary: "Send a one-time code to an MSISDN or an e-mail address to add to the signed-in account.",
        description:
          "The code goes by SMS or e-mail like a sign-in code (same throttles per recipient and per address). The answer says nothing about whether another account holds the identity.",
        body: CodeBody,
        response: withErrors({ 202: PayerCode }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "codes", request.body, request.ip),
        async () => ({
          status: 202,
          body: await requestLinkCode(
            ctx,
            request.body,
            request.ip,
            ipCountryFrom(request.headers, ctx.ipCountryHeader),
          ),
        }),
      ),
  );

  app.post(
    "/payer/identities",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "linkPayerIdentity",
        summary: "Add a second identity (an MSISDN or an e-mail address) to the account, proven by its code.",
        description:
          "Afterwards the payer sees what either identity matches. 409 `payer_exists` (param `msisdn` or `email`) when another account holds it. A wrong code counts as a failed sign-in (429 past the throttles).",
        body: LinkIdentityBody,
        response: withErrors({ 201: Payer }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "signin", request.body, request.ip),
        async () => ({
          status: 201,
          body: await linkIdentity(
            ctx,
            payerOf(request),
            request.body,
            request.ip,
            ipCountryFrom(request.headers, ctx.ipCountryHeader),
          ),
        }),
      ),
  );

  app.get(
    "/payer/payments",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "listPayerPayments",
        summary: "The payer's own payments at every merchant, newest first (default: the last 183 days).",
        querystring: PayerListQuery,
        response: withErrors({ 200: List(PayerPayment) }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const sinceMs = q.since ? Date.parse(q.since) : ctx.clock.nowMs() - HISTORY_DAYS_DEFAULT * 86_400_000;
      if (!Number.isFinite(sinceMs)) throw new ApiError("parameter_invalid", "since");
      const page = await listPayerPayments(ctx.db, payerOf(request), {
        limit: q.limit,
        starting_after: q.starting_after,
        sinceMs,
      });
      return sendJson(reply, 200, listBody(page.rows.map(presentPayerPayment), page.hasMore));
    },
  );

  app.get(
    "/payer/payments/:id",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "getPayerPayment",
        summary: "One of the payer's payments (404 for anyone else's).",
        params: IdParams,
        response: withErrors({ 200: PayerPayment }),
      },
    },
    async (request, reply) => {
      const page = await listPayerPayments(ctx.db, payerOf(request), { id: request.params.id });
      const row = page.rows[0];
      if (!row) throw new ApiError("resource_missing", "id", `No such payment: '${request.params.id}'.`);
      return sendJson(reply, 200, presentPayerPayment(row));
    },
  );

  app.get(
    "/payer/subscriptions",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "listPayerSubscriptions",
        summary: "The payer's own subscriptions at every merchant, newest first.",
        querystring: PayerListQuery,
        response: withErrors({ 200: List(PayerSubscription) }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = await listPayerSubscriptions(ctx.db, payerOf(request), {
        limit: q.limit,
        starting_after: q.starting_after,
      });
      return sendJson(reply, 200, listBody(page.rows.map(presentPayerSubscription), page.hasMore));
    },
  );

  app.get(
    "/payer/subscriptions/:id",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "getPayerSubscription",
        summary: "One of the payer's subscriptions (404 for anyone else's).",
        params: IdParams,
        response: withErrors({ 200: PayerSubscription }),
      },
    },
    async (request, reply) => {
      const page = await listPayerSubscriptions(ctx.db, payerOf(request), { id: request.params.id });
      const row = page.rows[0];
      if (!row) throw new ApiError("resource_missing", "id", `No such subscription: '${request.params.id}'.`);
      return sendJson(reply, 200, presentPayerSubscription(row));
    },
  );

  app.get(
    "/payer/subscriptions/:id/consent_evidence",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "getPayerConsentEvidence",
        summary:
          "The consent record of one of the payer's subscriptions: terms, consent as recorded, events, charges.",
        params: IdParams,
        response: withErrors({
          200: Type.Object(
            {
              object: Type.Literal("consent_evidence"),
              consent: Type.Object({}, { additionalProperties: true }),
            },
            { additionalProperties: true },
          ),
        }),
      },
    },
    async (request, reply) =>
      sendJson(
        reply,
        200,
        await consentEvidence(ctx.db, payerOf(request), request.params.id, ctx.clock.nowMs()),
      ),
  );

  app.post(
    "/payer/subscriptions/:id/cancel",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "cancelPayerSubscription",
        summary: "Cancel one of the payer's subscriptions now: no further charges.",
        params: IdParams,
        body: EmptyBody,
        response: withErrors({ 200: PayerSubscription }),
      },
    },
    async (request, reply) =>
      payerWrite(payers, request, reply, async () => ({
        status: 200,
        body: await cancelOwnSubscription(ctx, payerOf(request), request.params.id),
      })),
  );

  app.post(
    "/payer/refund_requests",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "createPayerRefundRequest",
        summary: "Ask for a refund of one of the payer's payments.",
        description:
          "Under the merchant's automatic threshold the payment is refunded at once; otherwise the merchant answers. One request per payment: asking again answers the same request (200).",
        body: RefundRequestBody,
        // One success status in the document: 201 for the new request; a repeat answers the
        // same request with 200 (said in the description above).
        response: withErrors({
          201: { ...RefundRequest, description: "The refund request (200 when it already existed)." },
        }),
      },
    },
    async (request, reply) =>
      payerWrite(payers, request, reply, async () => {
        const result = await requestRefund(ctx, payerOf(request), request.body);
        return { status: result.created ? 201 : 200, body: presentRefundRequest(result.request) };
      }),
  );

  app.get(
    "/payer/refund_requests",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "listPayerRefundRequests",
        summary: "The payer's refund requests and their answers (the last 100).",
        response: withErrors({ 200: List(RefundRequest) }),
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, listBody(await listPayerRefundRequests(ctx.db, payerOf(request)), false)),
  );

  app.post(
    "/payer/account",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "updatePayerAccount",
        summary: "Set or remove monthly spending caps per currency.",
        body: PayerSettingsBody,
        response: withErrors({ 200: Payer }),
      },
    },
    async (request, reply) =>
      payerWrite(payers, request, reply, async () => ({
        status: 200,
        body: await updateSettings(ctx, payerOf(request), request.body),
      })),
  );

  app.post(
    "/payer/merchant_blocks/:id",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "blockMerchantForPayer",
        summary: "Block a merchant from charging the payer (one the payer has paid before).",
        params: IdParams,
        body: EmptyBody,
        response: withErrors({ 200: Payer }),
      },
    },
    async (request, reply) =>
      payerWrite(payers, request, reply, async () => ({
        status: 200,
        body: await blockMerchant(ctx, payerOf(request), request.params.id),
      })),
  );

  app.delete(
    "/payer/merchant_blocks/:id",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "unblockMerchantForPayer",
        summary: "Lift a block of a merchant.",
        params: IdParams,
        response: withErrors({ 200: Payer }),
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await unblockMerchant(ctx, payerOf(request), request.params.id)),
  );
};

/** The merchant's side of refund requests and its policy (secret-key surface). */
export const refundRequestRoutes: Routes<Payers> = async (app, payers) => {
  const { ctx } = payers;
  const rtags = ["refund_requests"];
  app.get(
    "/refund_requests",
    {
      schema: {
        tags: rtags,
        operationId: "listRefundRequests",
        summary: "Payers' refund requests, newest first; filter by status or payment.",
        querystring: RefundRequestsQuery,
        response: withErrors({ 200: List(RefundRequest) }, 403),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = await listRefundRequests(
        ctx.db,
        request.scope,
        { status: q.status, payment: q.payment },
        q,
      );
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/refund_requests/:id",
    {
      schema: {
        tags: rtags,
        operationId: "getRefundRequest",
        summary: "Retrieve a refund request.",
        params: IdParams,
        response: withErrors({ 200: RefundRequest }, 403),
      },
    },
    async (request, reply) =>
      sendJson(
        reply,
        200,
        presentRefundRequest(await getRefundRequest(ctx.db, request.scope, request.params.id)),
      ),
  );
  app.post(
    "/refund_requests/:id/approve",
    {
      schema: {
        tags: rtags,
        operationId: "approveRefundRequest",
        summary:
          "Approve a pending refund request: the payment is refunded (once), event refund_request.approved.",
        params: IdParams,
        body: EmptyBody,
        response: withErrors({ 200: RefundRequest }, 403),
      },
    },
    async (request, reply) =>
      app.writes.claimFirst(request, reply, {
        status: 200,
        work: () => approveRefundRequest(ctx, request.scope, request.params.id),
      }),
  );
  app.post(
    "/refund_requests/:id/decline",
    {
      schema: {
        tags: rtags,
        operationId: "declineRefundRequest",
        summary:
          "Decline a pending refund request, with a reason the payer sees; event refund_request.declined.",
        params: IdParams,
        body: DeclineBody,
        response: withErrors({ 200: RefundRequest }, 403),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 200,
        work: (tx, nowMs) =>
          declineRefundRequest(tx, request.scope, request.params.id, request.body.reason, nowMs),
      }),
  );
  app.get(
    "/refund_request_policy",
    {
      schema: {
        tags: rtags,
        operationId: "getRefundRequestPolicy",
        summary: "The merchant's policy for payers' refund requests.",
        response: withErrors({ 200: RefundPolicy }, 403),
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, { object: "refund_request_policy", ...(await loadPolicy(ctx.db, request.scope)) }),
  );
  app.post(
    "/refund_request_policy",
    {
      schema: {
        tags: rtags,
        operationId: "setRefundRequestPolicy",
        summary: "Set the amounts (per currency) refunded at once when a payer asks, and the window in days.",
        body: RefundPolicyBody,
        response: withErrors({ 200: RefundPolicy }, 403),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 200,
        work: (tx, nowMs) => setPolicy(tx, request.scope, request.body, nowMs),
      }),
  );
};

/**
 * The development message catcher: messages to payers that never left (no SMTP server, the
 * embedded carrier simulator). The admin key, or a merchant's test-mode secret key.
 */
export const messageCatcherRoutes: Routes<Payers> = async (app, payers) => {
  app.get(
    "/test_helpers/messages",
    {
      schema: {
        tags: ["test_helpers"],
        operationId: "listCaughtMessages",
        summary: "Messages to payers kept by the development catcher (codes, receipts), newest first.",
        description:
          "Only messages that were never delivered are here; with a real SMS or e-mail channel nothing is caught. Filter with `to` (an MSISDN or an e-mail address).",
        querystring: MessagesQuery,
        response: withErrors({ 200: List(Message) }, 403),
      },
    },
    async (request, reply) => {
      const auth = request.auth;
      if (auth.kind === "merchant" && auth.mode !== "test")
        throw new ApiError(
          "live_mode_unavailable",
          undefined,
          "The message catcher answers test-mode keys only.",
        );
      const q = request.query;
      const page = await listCaughtMessages(payers.ctx.db, q.to, q);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
};
