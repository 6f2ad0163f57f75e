import { type TSchema, Type } from "@sinclair/typebox";
import { Amount, AnyCurrency, IsoTimestamp, ListQuery, Metadata, StringEnum, Text } from "../http/index.ts";
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
  { additionalProperties: false },
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
  { additionalProperties: false },
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
    { additionalProperties: false },
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
  [ListQuery, Type.Object({ parent: Type.Optional(ObjectId), active: Type.Optional(Type.Boolean()) })],
  { additionalProperties: false },
);

export const PricesQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      product: Type.Optional(ObjectId),
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
      customer: Type.Optional(ObjectId),
      price: Type.Optional(ObjectId),
      status: Type.Optional(StringEnum(STATUSES)),
      test_clock: Type.Optional(ObjectId),
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
  { additionalProperties: false },
);

export const AdvanceTestClockBody = Type.Object({ frozen_time: FrozenTime }, { additionalProperties: false });
