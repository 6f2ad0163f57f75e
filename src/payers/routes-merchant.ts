import { IdParams, listBody, type Routes, sendJson } from "../http/index.ts";
import { listCaughtMessages } from "../notifications/index.ts";
import { ApiError } from "../platform/errors.ts";
import type { Payers } from "./index.ts";
import {
  approveRefundRequest,
  declineRefundRequest,
  getRefundRequest,
  listRefundRequests,
  loadPolicy,
  presentRefundRequest,
  setPolicy,
} from "./refund-requests.ts";
import {
  DeclineBody,
  EmptyBody,
  List,
  Message,
  MessagesQuery,
  RefundPolicy,
  RefundPolicyBody,
  RefundRequest,
  RefundRequestsQuery,
  withErrors,
} from "./routes-schemas.ts";

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
