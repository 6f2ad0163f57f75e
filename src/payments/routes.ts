import { type TSchema, Type } from "@sinclair/typebox";
import {
  Amount,
  AnyCurrency,
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
  StringEnum,
  sendJson,
  Text,
} from "../http/index.ts";
import { LIMITS } from "../platform/limits.ts";
import { cancelPayment, capturePayment } from "./capture.ts";
import { confirmPayment } from "./confirm.ts";
import type { PaymentsContext } from "./context.ts";
import { createPayment } from "./create.ts";
import { presentPayment } from "./model.ts";
import type { PaymentMethodInput } from "./provider.ts";
import { getPayment, listPayments, paymentTimeline } from "./queries.ts";

export { callbackRoutes, interactionRoutes, unresolvedRoutes } from "./routes-operations.ts";
export { refundRoutes } from "./routes-refunds.ts";

/** `payment_method` is any registered provider's payment schema (the one registry). */
const createPaymentBody = (paymentMethod: TSchema) =>
  Type.Object(
    {
      amount: Type.Optional(Amount),
      currency: Type.Optional(AnyCurrency),
      payment_method: Type.Unsafe<PaymentMethodInput>(paymentMethod),
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
      ip_address: Type.Optional(
        Type.String({
          pattern: "^[0-9A-Fa-f:.]{2,45}$",
          description:
            "The payer's IP address, when your server relays a payer's request: risk rules read it (docs/risk.md). Not stored on the payment.",
        }),
      ),
    },
    {
      additionalProperties: false,
      examples: [
        {
          amount: 199,
          currency: "EUR",
          payment_method: { type: "sandbox", scenario: "approve" },
          description: "500 gems",
          metadata: { order: "8812" },
        },
      ],
    },
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
      customer: Type.Optional(IdOf("cus", "Only this customer's payments.")),
      subscription: Type.Optional(IdOf("sub", "Only this subscription's payments.")),
    }),
  ],
  { additionalProperties: false },
);

export const Payment = Type.Object(
  {
    id: Type.String({ examples: ["pay_01m8nf5vkfq5vt74pz4zz5tp34"] }),
    object: Type.Literal("payment"),
    created: Instant,
    livemode: Type.Boolean(),
    status: StringEnum(STATUSES),
    amount: MinorUnits,
    amount_capturable: MinorUnits,
    amount_captured: MinorUnits,
    amount_refunded: MinorUnits,
    currency: Type.String(),
    capture: StringEnum(["automatic", "manual"] as const),
    capture_before: Nullable(Instant),
    customer: Nullable(Type.String()),
    subscription: Nullable(Type.String()),
    price: Type.Optional(Type.Unknown({ description: "The catalog price paid for, and what it grants." })),
    wallet_top_up: Type.Optional(Type.Unknown({ description: "The wallet credited on success." })),
    description: Nullable(Type.String()),
    metadata: Type.Record(Type.String(), Type.String()),
    payment_method: Type.Object(
      { type: Type.String() },
      { additionalProperties: true, description: "The method as given, without secrets." },
    ),
    next_action: Nullable(
      Type.Object(
        { type: Type.String({ examples: ["enter_pin", "redirect_to_url"] }) },
        { additionalProperties: true, description: "What the payer must do next." },
      ),
    ),
    failure_code: Nullable(Type.String()),
    failure_message: Nullable(Type.String()),
    updated: Instant,
  },
  { description: "A payment." },
);
const Timeline = Type.Object({
  object: Type.Literal("payment_timeline"),
  payment: Type.String(),
  data: Type.Array(
    Type.Object(
      {
        type: StringEnum(["state_change", "provider_interaction"] as const),
        at: Instant,
      },
      {
        additionalProperties: true,
        description:
          "A state change (event, event_id, status) or an exchange with the provider (provider, operation, request, response, outcome, latency_ms), in order.",
      },
    ),
  ),
});
const CaptureBody = Type.Object({ amount: Type.Optional(Amount) }, { additionalProperties: false });
const EmptyBody = Type.Object({}, { additionalProperties: false });
const PinBody = Type.Object(
  { pin: Type.String({ minLength: 1, maxLength: 16 }) },
  { additionalProperties: false },
);

/** Payments, on the secret-key surface. */
export const paymentRoutes: Routes<PaymentsContext> = async (app, ctx) => {
  const CreatePaymentBody = createPaymentBody(ctx.providers.methodSchema("payment"));
  app.post(
    "/payments",
    {
      schema: {
        tags: ["payments"],
        operationId: "createPayment",
        summary: "Create a payment: charge a payer by carrier billing, card or wallet",
        description:
          "Answers 201 with the payment whatever the provider said: a decline is a payment with status `failed` and a `failure_code`; a method that needs the payer answers `requires_action` with a `next_action`.",
        body: CreatePaymentBody,
        response: { 201: Payment },
      },
    },
    async (request, reply) =>
      app.writes.flow(request, reply, (idem) =>
        createPayment(
          ctx,
          request.scope,
          request.body,
          idem,
          request.headers as Record<string, string | undefined>,
        ),
      ),
  );

  app.get(
    "/payments",
    {
      schema: {
        tags: ["payments"],
        operationId: "listPayments",
        summary: "List payments, newest first",
        querystring: ListPaymentsQuery,
        response: { 200: listOf(Payment) },
      },
    },
    async (request, reply) => {
      const { status, customer, subscription } = request.query;
      const page = await listPayments(ctx, request.scope, { status, customer, subscription }, request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );

  app.get(
    "/payments/:id",
    {
      schema: {
        tags: ["payments"],
        operationId: "getPayment",
        summary: "Retrieve a payment",
        params: IdParams,
        response: { 200: Payment },
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, presentPayment(await getPayment(ctx, request.scope, request.params.id))),
  );

  app.get(
    "/payments/:id/timeline",
    {
      schema: {
        tags: ["payments"],
        operationId: "getPaymentTimeline",
        summary: "A payment's state changes and provider exchanges, in order",
        params: IdParams,
        response: { 200: Timeline },
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await paymentTimeline(ctx, request.scope, request.params.id)),
  );

  app.post(
    "/payments/:id/capture",
    {
      schema: {
        tags: ["payments"],
        operationId: "capturePayment",
        summary: "Capture a payment held with capture: manual, whole or in part",
        params: IdParams,
        body: CaptureBody,
        response: { 200: Payment },
        "x-errors": [502],
      },
    },
    async (request, reply) =>
      app.writes.flow(request, reply, (idem) =>
        capturePayment(ctx, request.scope, request.params.id, request.body, idem),
      ),
  );

  app.post(
    "/payments/:id/cancel",
    {
      schema: {
        tags: ["payments"],
        operationId: "cancelPayment",
        summary: "Cancel a payment that is not captured yet (the hold is released)",
        params: IdParams,
        body: EmptyBody,
        response: { 200: Payment },
        "x-errors": [502],
      },
    },
    async (request, reply) =>
      app.writes.flow(request, reply, (idem) => cancelPayment(ctx, request.scope, request.params.id, idem)),
  );

  app.post(
    "/payments/:id/confirm",
    {
      schema: {
        tags: ["payments"],
        operationId: "confirmPayment",
        summary: "Confirm a payment with the PIN the payer received",
        params: IdParams,
        body: PinBody,
        response: { 200: Payment },
        "x-errors": [402],
      },
    },
    async (request, reply) =>
      app.writes.flow(request, reply, (idem) =>
        confirmPayment(ctx, request.scope, request.params.id, request.body, idem),
      ),
  );
};
