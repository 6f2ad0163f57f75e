import { type TSchema, Type } from "@sinclair/typebox";
import { ErrorBody, IdOf, ListQuery } from "../http/index.ts";

/** Request and response schemas of the payers' routes (routes.ts), for validation and OpenAPI. */

export function withErrors(
  responses: Record<number, TSchema>,
  ...statuses: number[]
): Record<number, TSchema> {
  const out: Record<number, TSchema> = { ...responses };
  for (const status of [400, 401, 404, 409, 429, ...statuses]) out[status] ??= ErrorBody;
  return out;
}

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Timestamp = Type.String({ format: "date-time" });
const Email = Type.String({ minLength: 3, maxLength: 254, description: "An e-mail address." });
const Msisdn = Type.String({
  minLength: 6,
  maxLength: 20,
  description: "A mobile number in international format, e.g. +33612345678.",
});
const Locale = Type.String({ pattern: "^[a-zA-Z]{2}([-_][a-zA-Z]{2})?$", description: "e.g. fr, pt-BR" });

/** The body of a POST that takes no fields (the id is in the path). */
export const EmptyBody = Type.Object({}, { additionalProperties: false });

export const SignUpBody = Type.Object(
  {
    email: Email,
    password: Type.String({ minLength: 1, maxLength: 200, description: "At least 10 characters." }),
  },
  { additionalProperties: false },
);

export const CodeBody = Type.Object(
  {
    msisdn: Type.Optional(Msisdn),
    email: Type.Optional(Email),
    locale: Type.Optional(Locale),
  },
  { additionalProperties: false, description: "Exactly one of msisdn and email." },
);

export const SessionBody = Type.Object(
  {
    email: Type.Optional(Email),
    msisdn: Type.Optional(Msisdn),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    code: Type.Optional(Type.String({ minLength: 1, maxLength: 12 })),
  },
  {
    additionalProperties: false,
    description: "`{email, password}`, or `{msisdn | email, code}` after POST /v1/payer_sessions/codes.",
  },
);

export const LinkIdentityBody = Type.Object(
  {
    msisdn: Type.Optional(Msisdn),
    email: Type.Optional(Email),
    code: Type.String({ minLength: 1, maxLength: 12 }),
  },
  {
    additionalProperties: false,
    description: "`{msisdn | email, code}` after POST /v1/payer/identities/codes.",
  },
);

export const RefreshBody = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

export const RefundRequestBody = Type.Object(
  {
    payment: Type.String({ minLength: 1, maxLength: 64, description: "One of your payments (pay_…)." }),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const PayerListQuery = Type.Object(
  {
    ...ListQuery.properties,
    since: Type.Optional(
      Type.String({
        format: "date-time",
        description: "Only payments created since then (default: 183 days).",
      }),
    ),
  },
  { additionalProperties: false },
);

export const PayerSettingsBody = Type.Object(
  {
    monthly_caps: Type.Optional(
      Type.Record(
        Type.String({ pattern: "^[A-Z]{3}$" }),
        Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
        {
          description: "Monthly spending cap per currency in minor units; null removes a cap.",
          additionalProperties: false,
        },
      ),
    ),
  },
  { additionalProperties: false },
);

export const MerchantBlockParams = Type.Object(
  { merchant: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
);

export const Payer = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("payer"),
    created: Timestamp,
    email: Nullable(Type.String()),
    has_password: Type.Boolean(),
    identities: Type.Array(
      Type.Object({ type: Type.String(), value: Type.String(), confirmed: Type.Boolean() }),
    ),
    monthly_caps: Type.Record(Type.String(), Type.Integer()),
    blocked_merchants: Type.Array(Type.String()),
  },
  { additionalProperties: true },
);

export const PayerCode = Type.Object({
  object: Type.Literal("payer_code"),
  channel: Type.String(),
  to: Type.String({ description: "The recipient, masked." }),
  expires_at: Timestamp,
  delivery: Type.Union([Type.Literal("sent"), Type.Literal("caught"), Type.Literal("failed")], {
    description:
      "caught: kept by the development catcher (GET /v1/test_helpers/messages); failed: not delivered.",
  }),
});

export const PayerSession = Type.Object({
  object: Type.Literal("payer_session"),
  token: Type.String({ description: "Bearer token for /v1/payer/*, valid 15 minutes." }),
  expires_at: Timestamp,
  refresh_token: Type.String({
    description: "Good once: exchanged for a new session at /v1/payer_sessions/refresh.",
  }),
  refresh_expires_at: Timestamp,
  payer: Payer,
});

const Merchant = Type.Object({ id: Type.String(), name: Type.String() });

export const PayerPayment = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("payer_payment"),
    created: Timestamp,
    livemode: Type.Boolean(),
    merchant: Merchant,
    description: Nullable(Type.String()),
    amount: Type.Integer(),
    amount_refunded: Type.Integer(),
    currency: Type.String(),
    status: Type.String(),
    payment_method: Type.Object({ type: Type.String() }, { additionalProperties: true }),
    subscription: Nullable(Type.String()),
    refund_request: Nullable(Type.Object({ id: Type.String(), status: Type.String() })),
  },
  { additionalProperties: true },
);

export const PayerSubscription = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("payer_subscription"),
    created: Timestamp,
    livemode: Type.Boolean(),
    merchant: Merchant,
    product: Type.Object({ id: Type.String(), name: Nullable(Type.String()) }),
    amount: Type.Integer(),
    currency: Type.String(),
    period: Type.String(),
    status: Type.String(),
    payment_method: Type.Object({ type: Type.String() }),
    current_period_end: Nullable(Timestamp),
    next_charge_at: Nullable(Timestamp),
    canceled_at: Nullable(Timestamp),
  },
  { additionalProperties: true },
);

export const RefundRequest = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("refund_request"),
    created: Timestamp,
    livemode: Type.Boolean(),
    payment: Type.String(),
    amount: Type.Integer(),
    currency: Type.String(),
    reason: Nullable(Type.String()),
    status: Type.Union([Type.Literal("pending"), Type.Literal("approved"), Type.Literal("declined")]),
    decision: Nullable(Type.String()),
    decline_reason: Nullable(Type.String()),
    refund: Nullable(Type.String()),
    refund_status: Nullable(Type.String()),
    decided_at: Nullable(Timestamp),
  },
  { additionalProperties: true },
);

export const RefundRequestsQuery = Type.Object(
  {
    ...ListQuery.properties,
    status: Type.Optional(
      Type.Union([Type.Literal("pending"), Type.Literal("approved"), Type.Literal("declined")]),
    ),
    payment: Type.Optional(IdOf("pay", "Only requests about this payment.")),
  },
  { additionalProperties: false },
);

export const DeclineBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 500 })) },
  { additionalProperties: false },
);

export const RefundPolicyBody = Type.Object(
  {
    automatic_max: Type.Optional(
      Type.Record(
        Type.String({ pattern: "^[A-Z]{3,8}$" }),
        Type.Integer({ minimum: 0, maximum: 9_999_999_999 }),
        {
          description: "Per currency, the largest amount (minor units) refunded without asking the merchant.",
          additionalProperties: false,
        },
      ),
    ),
    window_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  { additionalProperties: false },
);

export const RefundPolicy = Type.Object({
  object: Type.Literal("refund_request_policy"),
  automatic_max: Type.Record(Type.String(), Type.Integer()),
  window_days: Type.Integer(),
});

export const MessagesQuery = Type.Object(
  {
    ...ListQuery.properties,
    to: Type.Optional(
      Type.String({ maxLength: 254, description: "An MSISDN (E.164) or an e-mail address." }),
    ),
  },
  { additionalProperties: false },
);

export const Message = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("payer_message"),
    created: Timestamp,
    channel: Type.String(),
    to: Type.String(),
    kind: Type.String(),
    locale: Type.String(),
    subject: Nullable(Type.String()),
    body: Nullable(Type.String()),
    status: Type.String(),
  },
  { additionalProperties: true },
);

export const List = (item: TSchema) =>
  Type.Object({ object: Type.Literal("list"), data: Type.Array(item), has_more: Type.Boolean() });
