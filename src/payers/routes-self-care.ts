import { Type } from "@sinclair/typebox";
import { type Api, IdParams, ListQuery, listBody, type Routes, sendJson } from "../http/index.ts";
import { ApiError } from "../platform/errors.ts";
import { consentEvidence } from "./evidence.ts";
import type { Payers } from "./index.ts";
import { listPayerRefundRequests, presentRefundRequest, requestRefund } from "./refund-requests.ts";
import { payerConfig, payerOf, payerWrite, security, tags } from "./routes-helpers.ts";
import {
  EmptyBody,
  List,
  Payer,
  PayerListQuery,
  PayerPayment,
  PayerSettingsBody,
  PayerSubscription,
  RefundRequest,
  RefundRequestBody,
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

/** What the payer sees and does: payments, subscriptions (cancel, consent evidence), refund requests, settings, blocked merchants. */
export const selfCareRoutes: Routes<Payers> = async (app: Api, payers) => {
  const { ctx } = payers;
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
        summary: "The payer's refund requests and their answers, newest first.",
        querystring: ListQuery,
        response: withErrors({ 200: List(RefundRequest) }),
      },
    },
    async (request, reply) => {
      const page = await listPayerRefundRequests(ctx.db, payerOf(request), request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
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
