import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { cancelPayment, capturePayment } from "../../payments/capture.ts";
import { confirmPayment } from "../../payments/confirm.ts";
import { type CreatePaymentInput, createPayment } from "../../payments/create.ts";
import type { PaymentStatus } from "../../payments/model.ts";
import { presentPayment, SANDBOX_SCENARIOS } from "../../payments/model.ts";
import { getPayment, listPayments, paymentTimeline } from "../../payments/queries.ts";
import { LIMITS } from "../../platform/limits.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { idempotentPost, secretScope } from "../guards.ts";
import { type ListParams, listBody } from "../lists.ts";
import { Amount, AnyCurrency, IdParams, ListQuery, Metadata, StringEnum, Text } from "../schemas.ts";

const SandboxMethod = Type.Object(
  {
    type: Type.Literal("sandbox"),
    scenario: StringEnum(SANDBOX_SCENARIOS),
  },
  { additionalProperties: false, description: "Test mode only: drives the built-in simulated provider." },
);

const CarrierMethod = Type.Object(
  {
    type: Type.Literal("carrier"),
    msisdn: Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$", description: "The payer's number in E.164." }),
    operator: Type.Optional(
      Type.String({ pattern: "^[0-9]{5,6}$", description: "MCC+MNC; found by lookup when absent." }),
    ),
    flow: Type.Optional(
      Type.Literal("mo", {
        description: "The payer texts a keyword to the operator's shortcode (next_action send_mo).",
      }),
    ),
  },
  {
    additionalProperties: false,
    description: "Charged to the payer's phone bill or prepaid balance through the operator.",
  },
);

const CardMethod = Type.Object(
  {
    type: Type.Literal("card"),
    number: Type.String({ minLength: 12, maxLength: 23 }),
    exp_month: Type.Integer({ minimum: 1, maximum: 12 }),
    exp_year: Type.Integer({ minimum: 2000, maximum: 2100 }),
    cvc: Type.String({ pattern: "^[0-9]{3,4}$" }),
  },
  { additionalProperties: false, description: "A card, through the card PSP; never stored." },
);

const WalletMethod = Type.Object(
  { type: Type.Literal("wallet") },
  {
    additionalProperties: false,
    description: "The customer's wallet in the payment's currency (an inner currency, usually).",
  },
);

const PaymentMethodSchema = Type.Unsafe({
  type: "object",
  discriminator: { propertyName: "type" },
  required: ["type"],
  oneOf: [SandboxMethod, CarrierMethod, CardMethod, WalletMethod],
  description: "A tagged object: `type` says which kind of payment method it is.",
});

export const CreatePaymentBody = Type.Object(
  {
    amount: Type.Optional(Amount),
    currency: Type.Optional(AnyCurrency),
    payment_method: PaymentMethodSchema,
    customer: Type.Optional(Type.String({ maxLength: 64 })),
    price: Type.Optional(
      Type.String({ maxLength: 64, description: "A catalog price: its amount, currency and grants." }),
    ),
    wallet_top_up: Type.Optional(
      Type.Object(
        { currency: Type.String({ pattern: "^[A-Z]{3,8}$" }) },
        {
          additionalProperties: false,
          description: "Converts what is paid into the customer's wallet in this currency on success.",
        },
      ),
    ),
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
  return async (app: FastifyInstance) => {
    app.post(
      "/payments",
      { schema: { tags: ["payments"], body: CreatePaymentBody, response: { 201: Payment } } },
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
