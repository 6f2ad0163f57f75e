/** Refunds over the API: create (idempotent, reserved before the provider is asked), read, list. */
import { Type } from "@sinclair/typebox";
import {
  Amount,
  ApprovalObject,
  IdOf,
  IdParams,
  Instant,
  ListQuery,
  listBody,
  listOf,
  Metadata,
  MinorUnits,
  Nullable,
  type Routes,
  sendJson,
  Text,
} from "../http/index.ts";
import type { PaymentsContext } from "./context.ts";
import { getRefund, listRefunds } from "./queries.ts";
import { createRefund } from "./refund.ts";

const CreateRefundBody = Type.Object(
  {
    payment: Type.String({ maxLength: 64 }),
    amount: Type.Optional(Amount),
    reason: Type.Optional(Text(500)),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    examples: [{ payment: "pay_01m8nf5vkfq5vt74pz4zz5tp34", amount: 100, reason: "requested" }],
  },
);
const Refund = Type.Object({
  id: Type.String({ examples: ["re_01m8nf5w3wcjbmm9xqvy66d3qy"] }),
  object: Type.Literal("refund"),
  created: Instant,
  livemode: Type.Boolean(),
  payment: Type.String(),
  amount: MinorUnits,
  currency: Type.String(),
  status: Type.String({ examples: ["pending", "succeeded", "failed"] }),
  reason: Nullable(Type.String()),
  failure_code: Nullable(Type.String()),
  metadata: Type.Record(Type.String(), Type.String()),
  effects: Type.Optional(Type.Unknown()),
});
const ListRefundsQuery = Type.Composite(
  [ListQuery, Type.Object({ payment: Type.Optional(IdOf("pay", "Only this payment's refunds.")) })],
  { additionalProperties: false },
);

/** Refunds, on the secret-key surface. */
export const refundRoutes: Routes<PaymentsContext> = async (app, ctx) => {
  app.post(
    "/refunds",
    {
      schema: {
        tags: ["refunds"],
        operationId: "createRefund",
        summary: "Refund a payment, whole or in part",
        body: CreateRefundBody,
        response: {
          201: Refund,
          202: {
            ...ApprovalObject,
            description:
              "A staff member's refund above the merchant's threshold: it runs once a second person approves it.",
          },
        },
      },
    },
    async (request, reply) =>
      app.writes.flow(request, reply, (idem) => createRefund(ctx, request.scope, request.body, idem)),
  );
  app.get(
    "/refunds",
    {
      schema: {
        tags: ["refunds"],
        operationId: "listRefunds",
        summary: "List refunds, newest first",
        querystring: ListRefundsQuery,
        response: { 200: listOf(Refund) },
      },
    },
    async (request, reply) => {
      const page = await listRefunds(ctx, request.scope, { payment: request.query.payment }, request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/refunds/:id",
    {
      schema: {
        tags: ["refunds"],
        operationId: "getRefund",
        summary: "Retrieve a refund",
        params: IdParams,
        response: { 200: Refund },
      },
    },
    async (request, reply) => sendJson(reply, 200, await getRefund(ctx, request.scope, request.params.id)),
  );
};
