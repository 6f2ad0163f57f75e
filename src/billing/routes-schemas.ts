import { type TSchema, Type } from "@sinclair/typebox";
import {
  Amount,
  AnyCurrency,
  IdOf,
  Instant,
  IsoTimestamp,
  ListQuery,
  Metadata,
  MinorUnits,
  Nullable,
  StringEnum,
  Text,
} from "../http/index.ts";
import type { CreateSubscriptionInput } from "./subscriptions.ts";

/** The request schemas of billing's routes (routes.ts). */
export const Country = Type.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2" });
export const Operator = Type.String({ pattern: "^[0-9]{5,6}$", description: "MCC+MNC, e.g. 20801" });
export const Msisdn = Type.String({
  pattern: "^\\+[1-9][0-9]{6,14}$",
  description: "E.164, e.g. +33612345678",
});
export const ObjectId = Type.String({ minLength: 1, maxLength: 64 });

export const ProductBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 250 }),
    description: Type.Optional(Text(1000)),
    parent: Type.Optional(ObjectId),
    active: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    examples: [{ name: "Football alerts", description: "Goals as they happen" }],
  },
);

export const ProductUpdateBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 250 })),
    description: Type.Optional(Text(1000)),
    active: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

export const PriceBody = Type.Object(
  {
    product: ObjectId,
    amount: Amount,
    currency: AnyCurrency,
    country: Type.Optional(Country),
    grants: Type.Optional(
      Type.Object(
        {
          entitlement: Type.String({ pattern: "^[a-z0-9][a-z0-9_.-]{0,63}$" }),
          period: Type.String({ minLength: 2, maxLength: 40, description: "ISO 8601 duration: P30D, P1M" }),
        },
        { additionalProperties: false, description: "Access this price grants when bought (memberships)." },
      ),
    ),
    recurring: Type.Optional(
      Type.Object(
        {
          period: Type.String({
            minLength: 2,
            maxLength: 40,
            description: "ISO 8601 duration: P1D, P1W, P1M",
          }),
        },
        { additionalProperties: false },
      ),
    ),
    trial_days: Type.Optional(Type.Integer({ minimum: 0, maximum: 730 })),
    active: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    examples: [
      {
        product: "prod_01m8nf5w6t7v6bkd3qqzx6ncg0",
        amount: 199,
        currency: "EUR",
        country: "FR",
        recurring: { period: "P1W" },
      },
    ],
  },
);

export const ConsentBody = Type.Object(
  {
    method: StringEnum(["web", "mo", "header_enrichment", "pin", "operator_page", "api"] as const),
    ip_address: Type.Optional(Type.String({ maxLength: 64 })),
    user_agent: Type.Optional(Text(500)),
    text: Type.Optional(Text(1000)),
    reference: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false, description: "How and where the subscriber agreed (kept as evidence)." },
);

/** `payment_method` is any registered provider's subscription schema (the one registry). */
export const subscriptionBody = (paymentMethod: TSchema) =>
  Type.Object(
    {
      customer: ObjectId,
      price: ObjectId,
      payment_method: Type.Unsafe<CreateSubscriptionInput["payment_method"]>(paymentMethod),
      consent: Type.Optional(ConsentBody),
      metadata: Type.Optional(Metadata),
    },
    {
      additionalProperties: false,
      examples: [
        {
          customer: "cus_01m8nf5w9jtepdxy4fhbzejb8h",
          price: "price_01m8nf5w8h32zwch3f6pqkkac1",
          payment_method: { type: "sandbox", scenario: "approve" },
          consent: { method: "web", ip_address: "192.0.2.1", text: "I agree to 1.99 EUR a week" },
        },
      ],
    },
  );

export const STATUSES = ["incomplete", "trialing", "active", "past_due", "paused", "canceled"] as const;

export const PolicyBody = Type.Object(
  {
    operator: Type.Optional(Operator),
    retry_delays_minutes: Type.Optional(
      Type.Array(Type.Integer({ minimum: 15, maximum: 10080 }), { maxItems: 20 }),
    ),
    retry_days_max: Type.Optional(Type.Integer({ minimum: 0, maximum: 60 })),
    final_action: Type.Optional(StringEnum(["cancel", "pause"] as const)),
    partial_ladder_percent: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: 100 }), { maxItems: 10 }),
    ),
    debt_retry_minutes: Type.Optional(Type.Integer({ minimum: 15, maximum: 43200 })),
    debt_write_off_days: Type.Optional(Type.Integer({ minimum: 0, maximum: 365 })),
    defer_period_on_late_payment: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const EmptyBody = Type.Object({}, { additionalProperties: false });
export const FrozenTime = IsoTimestamp;

export const ProductsQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      parent: Type.Optional(IdOf("prod", "Only this product's children.")),
      active: Type.Optional(Type.Boolean()),
    }),
  ],
  { additionalProperties: false },
);

export const PricesQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      product: Type.Optional(IdOf("prod", "Only this product's prices.")),
      currency: Type.Optional(Type.String({ maxLength: 3 })),
      country: Type.Optional(Country),
      active: Type.Optional(Type.Boolean()),
    }),
  ],
  { additionalProperties: false },
);

export const PriceUpdateBody = Type.Object(
  { active: Type.Optional(Type.Boolean()), metadata: Type.Optional(Metadata) },
  { additionalProperties: false },
);

export const SubscriptionsQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      customer: Type.Optional(IdOf("cus", "Only this customer's subscriptions.")),
      price: Type.Optional(IdOf("price", "Only subscriptions to this price.")),
      status: Type.Optional(StringEnum(STATUSES)),
      test_clock: Type.Optional(IdOf("clock", "Only subscriptions on this test clock.")),
    }),
  ],
  { additionalProperties: false },
);

export const PinBody = Type.Object(
  { pin: Type.String({ minLength: 1, maxLength: 16 }) },
  { additionalProperties: false },
);

export const CancelBody = Type.Object(
  { reason: Type.Optional(StringEnum(["requested", "subscriber"] as const)) },
  { additionalProperties: false },
);

export const MoMessageBody = Type.Object(
  { msisdn: Msisdn, text: Type.String({ minLength: 1, maxLength: 160 }) },
  { additionalProperties: false },
);

export const CreateTestClockBody = Type.Object(
  { frozen_time: FrozenTime, name: Type.Optional(Type.String({ maxLength: 200 })) },
  {
    additionalProperties: false,
    examples: [{ frozen_time: "2026-03-01T10:00:00Z", name: "Renewals in March" }],
  },
);

export const AdvanceTestClockBody = Type.Object({ frozen_time: FrozenTime }, { additionalProperties: false });

// Answers ------------------------------------------------------------------------------------

const Id = (example: string) => Type.String({ examples: [example] });
const Meta = Type.Record(Type.String(), Type.String());

export const Product = Type.Object({
  id: Id("prod_01m8nf5w6t7v6bkd3qqzx6ncg0"),
  object: Type.Literal("product"),
  created: Instant,
  livemode: Type.Boolean(),
  name: Type.String(),
  description: Nullable(Type.String()),
  parent: Nullable(Type.String({ description: "The product this one is a variant of." })),
  active: Type.Boolean(),
  metadata: Meta,
  updated: Instant,
});

export const Price = Type.Object({
  id: Id("price_01m8nf5w8h32zwch3f6pqkkac1"),
  object: Type.Literal("price"),
  created: Instant,
  livemode: Type.Boolean(),
  product: Type.String(),
  amount: MinorUnits,
  currency: Type.String(),
  country: Nullable(Type.String()),
  type: StringEnum(["one_time", "recurring"] as const),
  recurring: Nullable(Type.Object({ period: Type.String({ examples: ["P1W"] }) })),
  trial_days: Type.Integer(),
  active: Type.Boolean(),
  metadata: Meta,
  grants: Nullable(Type.Object({ entitlement: Type.String(), period: Type.String() })),
});

export const Subscription = Type.Object({
  id: Id("sub_01m8nf5w9rt74d1wcp8c9hkrj0"),
  object: Type.Literal("subscription"),
  created: Instant,
  livemode: Type.Boolean(),
  status: StringEnum(STATUSES),
  customer: Type.String(),
  price: Type.String(),
  product: Type.String(),
  amount: MinorUnits,
  currency: Type.String(),
  recurring: Type.Object({ period: Type.String() }),
  country: Nullable(Type.String()),
  operator: Nullable(Type.String()),
  time_zone: Nullable(Type.String()),
  payment_method: Type.Object({ type: Type.String() }, { additionalProperties: true }),
  consent: Nullable(
    Type.Object(
      { method: Type.String(), recorded_at: Instant, pin_verified_at: Type.Optional(Instant) },
      { additionalProperties: true },
    ),
  ),
  next_action: Nullable(Type.Object({ type: Type.String() }, { additionalProperties: true })),
  next_charge_at: Nullable(Instant),
  current_period_start: Nullable(Instant),
  current_period_end: Nullable(Instant),
  trial_end: Nullable(Instant),
  billing_period: Type.Integer(),
  retry_count: Type.Integer(),
  debt: MinorUnits,
  cancel_reason: Nullable(Type.String()),
  canceled_at: Nullable(Instant),
  test_clock: Nullable(Type.String()),
  metadata: Meta,
  updated: Instant,
});

export const MoMessage = Type.Object({
  object: Type.Literal("mo_message"),
  msisdn: Type.String(),
  text: Type.String(),
  stop: Type.Boolean({ description: "Whether the text was a STOP keyword." }),
  canceled_subscriptions: Type.Array(Type.String()),
});

export const DunningPolicyObject = Type.Object({
  id: Type.String(),
  object: Type.Literal("dunning_policy"),
  created: Instant,
  operator: Nullable(Type.String()),
  retry_delays_minutes: Type.Array(Type.Integer()),
  retry_days_max: Type.Integer(),
  final_action: StringEnum(["cancel", "pause"] as const),
  partial_ladder_percent: Type.Array(Type.Integer()),
  debt_retry_minutes: Type.Integer(),
  debt_write_off_days: Type.Integer(),
  defer_period_on_late_payment: Type.Boolean(),
});

export const TestClock = Type.Object({
  id: Id("clock_01m8nf5wg5mmnzt6nfzqpy1dwx"),
  object: Type.Literal("test_clock"),
  created: Instant,
  livemode: Type.Boolean(),
  name: Nullable(Type.String()),
  frozen_time: Instant,
  status: StringEnum(["ready", "advancing"] as const),
});
