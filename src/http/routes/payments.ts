import { type TSchema, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { cancelPayment, capturePayment } from "../../payments/capture.ts";
import { confirmPayment } from "../../payments/confirm.ts";
import { type CreatePaymentInput, createPayment } from "../../payments/create.ts";
import type { PaymentStatus } from "../../payments/model.ts";
import { presentPayment } from "../../payments/model.ts";
import { getPayment, listPayments, paymentTimeline } from "../../payments/queries.ts";
import { LIMITS } from "../../platform/limits.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { idempotentPost, secretScope } from "../guards.ts";
import { type ListParams, listBody } from "../lists.ts";
import { Amount, Currency, IdParams, ListQuery, Metadata, StringEnum, Text } from "../schemas.ts";

/** `payment_method` is any registered provider's payment schema (the one registry). */
const CreatePaymentBody = (paymentMethod: TSchema) =>
  Type.Object(
    {
      amount: Amount,
      currency: Currency,
      payment_method: paymentMethod,
      customer: Type.Optional(Type.String({ maxLength: 64 })),
      description: Type.Optional(Text(LIMITS.description_length_max)),
      capture: Type.Optional(StringEnum(["automatic", "manual"] as const)),
      metadata: Type.Optional(Metadata),
    },
    { additionalProperties: false },
  );

const STATUSES = [
  "requires_action",
  "processing",
  "requires_capture",
  "succeeded",
  "failed",
  "canceled",
] as const;

const ListPaymentsQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      status: Type.Optional(StringEnum(STATUSES)),
      customer: Type.Optional(Type.String({ maxLength: 64 })),
      subscription: Type.Optional(Type.String({ maxLength: 64 })),
    }),
  ],
  { additionalProperties: false },
);

const Payment = Type.Object({}, { additionalProperties: true, description: "A payment." });

export function paymentRoutes(services: Services) {
  const ctx = services.payments;
  const createPaymentBody = CreatePaymentBody(ctx.providers.methodSchema("payment"));
  return async (app: FastifyInstance) => {
    app.post(
      "/payments",
      { schema: { tags: ["payments"], body: createPaymentBody, response: { 201: Payment } } },
      async (request, reply) => {
        const scope = secretScope(request);
        return idempotentPost(services, request, reply, scope, (idem) =>
          createPayment(
            ctx,
            scope,
            request.body as CreatePaymentInput,
            idem,
            request.headers as Record<string, string | undefined>,
          ),
        );
      },
    );

    app.get(
      "/payments",
      { schema: { tags: ["payments"], querystring: ListPaymentsQuery } },
      async (request, reply) => {
        const scope = secretScope(request);
        const query = request.query as ListParams & {
          status?: PaymentStatus;
          customer?: string;
          subscription?: string;
        };
        const page = await listPayments(
          ctx,
          scope,
          { status: query.status, customer: query.customer, subscription: query.subscription },
          query,
        );
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );

    app.get("/payments/:id", { schema: { tags: ["payments"], params: IdParams } }, async (request, reply) => {
      const scope = secretScope(request);
      const payment = await getPayment(ctx, scope, (request.params as { id: string }).id);
      return sendJson(reply, 200, presentPayment(payment));
    });

    app.get(
      "/payments/:id/timeline",
      { schema: { tags: ["payments"], params: IdParams } },
      async (request, reply) => {
        const scope = secretScope(request);
        return sendJson(reply, 200, await paymentTimeline(ctx, scope, (request.params as { id: string }).id));
      },
    );

    app.post(
      "/payments/:id/capture",
      {
        schema: {
          tags: ["payments"],
          params: IdParams,
          body: Type.Object({ amount: Type.Optional(Amount) }, { additionalProperties: false }),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const id = (request.params as { id: string }).id;
        return idempotentPost(services, request, reply, scope, (idem) =>
          capturePayment(ctx, scope, id, (request.body ?? {}) as { amount?: number }, idem),
        );
      },
    );

    app.post(
      "/payments/:id/cancel",
      {
        schema: {
          tags: ["payments"],
          params: IdParams,
          body: Type.Optional(Type.Object({}, { additionalProperties: false })),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const id = (request.params as { id: string }).id;
        return idempotentPost(services, request, reply, scope, (idem) => cancelPayment(ctx, scope, id, idem));
      },
    );

    app.post(
      "/payments/:id/confirm",
      {
        schema: {
          tags: ["payments"],
          params: IdParams,
          body: Type.Object(
            { pin: Type.String({ minLength: 1, maxLength: 16 }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const id = (request.params as { id: string }).id;
        return idempotentPost(services, request, reply, scope, (idem) =>
          confirmPayment(ctx, scope, id, request.body as { pin: string }, idem),
        );
      },
    );
  };
}
