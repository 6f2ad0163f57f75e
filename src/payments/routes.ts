import { type Static, type TSchema, Type } from "@sinclair/typebox";
import type { FastifyRequest } from "fastify";
import { listPage } from "../db/pages.ts";
import {
  Amount,
  AnyCurrency,
  type Api,
  ApprovalObject,
  IdParams,
  Instant,
  IsoTimestamp,
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
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import { cancelPayment, capturePayment } from "./capture.ts";
import { confirmPayment } from "./confirm.ts";
import type { PaymentsContext } from "./context.ts";
import { createPayment } from "./create.ts";
import { presentPayment } from "./model.ts";
import type { PaymentMethodInput } from "./provider.ts";
import {
  getPayment,
  getRefund,
  type InteractionRow,
  listPayments,
  listRefunds,
  paymentTimeline,
} from "./queries.ts";
import { listUnresolvedPayments } from "./reconcile.ts";
import { createRefund } from "./refund.ts";
import { handleProviderCallback } from "./remote-events.ts";

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
      customer: Type.Optional(Type.String({ maxLength: 64 })),
      subscription: Type.Optional(Type.String({ maxLength: 64 })),
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
  [ListQuery, Type.Object({ payment: Type.Optional(Type.String({ maxLength: 64 })) })],
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

const InteractionsQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      payment: Type.Optional(Type.String({ maxLength: 64 })),
      msisdn: Type.Optional(Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$" })),
      operator: Type.Optional(Type.String({ maxLength: 16 })),
      attempt: Type.Optional(Type.String({ maxLength: 64 })),
      "created[gte]": Type.Optional(IsoTimestamp),
      "created[lte]": Type.Optional(IsoTimestamp),
      merchant: Type.Optional(
        Type.String({ maxLength: 64, description: "Admin key only: one merchant's log." }),
      ),
    }),
  ],
  { additionalProperties: false },
);

const Interaction = Type.Object({
  id: Type.String(),
  object: Type.Literal("provider_interaction"),
  created: Instant,
  payment: Nullable(Type.String()),
  refund: Nullable(Type.String()),
  provider: Type.String(),
  operator: Nullable(Type.String()),
  msisdn: Nullable(Type.String()),
  operation: Type.String({ examples: ["charge", "refund", "capture", "cancel", "status"] }),
  attempt_id: Nullable(Type.String()),
  request: Type.Unknown({ description: "What was sent, secrets redacted." }),
  response: Type.Unknown({ description: "What came back, secrets redacted." }),
  outcome: Type.String(),
  latency_ms: Nullable(Type.Integer()),
});

function presentInteraction(row: InteractionRow) {
  return {
    id: row.id,
    object: "provider_interaction" as const,
    created: iso(row.created.getTime()),
    payment: row.payment_id,
    refund: row.refund_id,
    provider: row.provider,
    operator: row.operator,
    msisdn: row.msisdn,
    operation: row.operation,
    attempt_id: row.attempt_id,
    request: row.request,
    response: row.response,
    outcome: row.outcome,
    latency_ms: row.latency_ms,
  };
}

/** A merchant reads its own log; the admin key reads everyone's, or one merchant's. */
function interactionScope(
  request: FastifyRequest,
  merchant: string | undefined,
  add: (sql: string, value: unknown) => void,
) {
  if (request.auth.kind === "admin") {
    if (merchant) add("merchant_id = ?", merchant);
    return;
  }
  if (merchant) throw new ApiError("admin_key_required", "merchant");
  add("merchant_id = ?", request.scope.merchantId);
  add("mode = ?", request.scope.mode);
}

/**
 * The append-only log of every exchange with an outside provider, searchable by payment, MSISDN,
 * operator and time. On the surface that takes a secret key or the admin key.
 */
export const interactionRoutes: Routes<PaymentsContext> = async (app, ctx) => {
  app.get(
    "/provider_interactions",
    {
      schema: {
        tags: ["payments"],
        operationId: "listProviderInteractions",
        summary: "Search the log of every exchange with a provider",
        querystring: InteractionsQuery,
        response: { 200: listOf(Interaction) },
      },
    },
    async (request, reply) => {
      const query: Static<typeof InteractionsQuery> = request.query;
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(sql.replace("?", `$${params.length}`));
      };
      interactionScope(request, query.merchant, add);
      if (query.payment) add("payment_id = ?", query.payment);
      if (query.msisdn) add("msisdn = ?", query.msisdn);
      if (query.operator) add("operator = ?", query.operator);
      if (query.attempt) add("attempt_id = ?", query.attempt);
      if (query["created[gte]"]) add("created >= ?", new Date(query["created[gte]"]));
      if (query["created[lte]"]) add("created <= ?", new Date(query["created[lte]"]));
      // A list may lag: the replica when there is one (its staged bodies and blocks are consistent
      // with its metadata, and the archive files are written before either commits).
      const db = ctx.readDb ?? ctx.db;
      const page = await listPage<InteractionRow>(db, "provider_interactions", where, params, query);
      const rows = await ctx.archive.attachBodies(db, page.rows);
      return sendJson(reply, 200, listBody(rows.map(presentInteraction), page.hasMore));
    },
  );
};

/**
 * Where operators and the card PSP send asynchronous results. No API key: each connector checks
 * the notification's own signature or token, and the body is handed over byte for byte.
 */
export const callbackRoutes: Routes<PaymentsContext> = async (app, ctx) => {
  app.post("/provider_callbacks/:operator/:attempt", { schema: { hide: true } }, async (request, reply) => {
    const { operator, attempt } = request.params as { operator: string; attempt: string };
    const answer = await handleProviderCallback(ctx, operator, {
      attempt_id: attempt,
      query: request.query as Record<string, string | undefined>,
      headers: request.headers as Record<string, string | undefined>,
      body: typeof request.body === "string" ? request.body : "",
    });
    return reply.code(answer.status).send(answer.body);
  });
};

const UnresolvedPayment = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("payment"),
    status: Type.String(),
    amount: Type.Integer(),
    currency: Type.String(),
    created: Type.String({ format: "date-time" }),
    reconciliation: Type.Object({
      status: Type.Literal("unresolved"),
      unresolved_since: Type.String({ format: "date-time" }),
      checks: Type.Integer({
        description:
          "How many times the provider was asked since the outcome went unknown (or to give back).",
      }),
      reason: Type.Union([Type.Literal("outcome_unknown"), Type.Literal("give_back_unconfirmed")], {
        description:
          "`outcome_unknown`: the provider cannot say what happened to the attempt; `give_back_unconfirmed`: a success that arrived after the cancel, which the provider has not yet confirmed voiding or refunding (still asked, with backoff).",
      }),
    }),
  },
  { additionalProperties: true },
);

const UnresolvedList = Type.Object({
  object: Type.Literal("list"),
  data: Type.Array(UnresolvedPayment),
  has_more: Type.Boolean(),
});

const UnresolvedQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
    starting_after: Type.Optional(Type.String({ maxLength: 64 })),
    ending_before: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

/**
 * `GET /v1/payments/unresolved`: attempts whose provider could not say what happened, flagged for a
 * person instead of being decided failed (the payer may have been charged). Each stays
 * `processing` and is still asked about; settle it with the provider's records. Also canceled
 * payments whose late success the provider has not confirmed giving back (`give_back_unconfirmed`).
 */
export async function unresolvedRoutes(app: Api, ctx: PaymentsContext): Promise<void> {
  app.get(
    "/payments/unresolved",
    {
      schema: {
        tags: ["payments"],
        operationId: "listUnresolvedPayments",
        summary: "List payment attempts flagged for a person by reconciliation",
        querystring: UnresolvedQuery,
        response: { 200: UnresolvedList },
      },
    },
    async (request) => {
      const page = await listUnresolvedPayments(ctx, request.scope, request.query);
      return {
        object: "list" as const,
        data: page.rows.map((row) => {
          const giveBack = row.provider_state?.give_back as { asked?: number } | undefined;
          return {
            ...presentPayment(row),
            reconciliation: {
              status: "unresolved" as const,
              unresolved_since: new Date(row.unresolved_since ?? 0).toISOString(),
              checks: giveBack ? (giveBack.asked ?? 0) : (row.reconcile_checks ?? 0),
              reason: giveBack ? ("give_back_unconfirmed" as const) : ("outcome_unknown" as const),
            },
          };
        }),
        has_more: page.hasMore,
      };
    },
  );
}
