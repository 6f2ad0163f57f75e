/** The checkout API's request and response schemas (TypeBox; the OpenAPI document is built from them). */
import { type TSchema, Type } from "@sinclair/typebox";
import { Metadata, objectSchema, StringEnum, Text } from "../http/index.ts";
import { AMOUNT_MAX, knownCurrencies } from "../platform/money.ts";
import { METHOD_TYPES } from "./model.ts";

const Timestamp = Type.Union([
  Type.String({ minLength: 16, maxLength: 40, description: "ISO 8601 UTC, e.g. 2026-01-01T12:00:00Z." }),
  Type.Integer({ minimum: 0, maximum: 253402300799, description: "Unix seconds." }),
]);
const Url = Type.String({ minLength: 1, maxLength: 2048 });
const Amount = Type.Integer({ minimum: 1, maximum: AMOUNT_MAX, description: "Minor units." });
const Currency = Type.Unsafe<string>({ type: "string", enum: knownCurrencies(), description: "ISO 4217." });
const LineItems = Type.Array(
  Type.Object(
    {
      price: Type.String({ maxLength: 64, description: "A one-time catalog price (price_…)." }),
      quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    },
    { additionalProperties: false },
  ),
  { minItems: 1, maxItems: 20 },
);
const MethodTypes = Type.Array(StringEnum(METHOD_TYPES), { minItems: 1, maxItems: METHOD_TYPES.length });

export const CreateAppBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    allowed_origins: Type.Optional(Type.Array(Type.String({ maxLength: 300 }), { maxItems: 20 })),
    fulfilment_url: Type.Optional(Url),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

export const CreateSessionBody = Type.Object(
  {
    line_items: Type.Optional(LineItems),
    amount: Type.Optional(Amount),
    currency: Type.Optional(Currency),
    description: Type.Optional(Text(1000)),
    app: Type.Optional(Type.String({ maxLength: 64 })),
    customer: Type.Optional(Type.String({ maxLength: 64 })),
    payer: Type.Optional(
      Type.Object(
        {
          msisdn: Type.Optional(Type.String({ maxLength: 32, description: "E.164" })),
          email: Type.Optional(Type.String({ maxLength: 254 })),
          country: Type.Optional(Type.String({ maxLength: 2, description: "ISO 3166-1 alpha-2" })),
        },
        { additionalProperties: false },
      ),
    ),
    locale: Type.Optional(Type.String({ maxLength: 35 })),
    payment_method_types: Type.Optional(MethodTypes),
    success_url: Type.Optional(Url),
    cancel_url: Type.Optional(Url),
    expires_at: Type.Optional(Timestamp),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const AfterCompletion = Type.Union([
  Type.Object(
    { type: Type.Literal("hosted_confirmation"), message: Type.Optional(Text(500)) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal("redirect"), url: Url }, { additionalProperties: false }),
]);

export const CreateLinkBody = Type.Object(
  {
    line_items: Type.Optional(LineItems),
    amount: Type.Optional(Amount),
    currency: Type.Optional(Currency),
    description: Type.Optional(Text(1000)),
    app: Type.Optional(Type.String({ maxLength: 64 })),
    expires_at: Type.Optional(Timestamp),
    max_uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
    after_completion: Type.Optional(AfterCompletion),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const LineItemOut = Type.Object({
  price: Type.Union([Type.String(), Type.Null()]),
  product: Type.Union([Type.String(), Type.Null()]),
  description: Type.String(),
  quantity: Type.Integer(),
  unit_amount: Type.Integer(),
  amount_total: Type.Integer(),
});
const Nullable = (schema: TSchema) => Type.Union([schema, Type.Null()]);

export const AppOut = objectSchema("app", {
  name: Type.String(),
  allowed_origins: Type.Array(Type.String()),
  fulfilment_url: Nullable(Type.String()),
  fulfilment_secret: Type.Optional(Type.String({ description: "Signs delivery orders; shown once." })),
});
export const SessionOut = objectSchema("checkout_session", {
  status: StringEnum(["open", "complete", "expired"] as const),
  url: Type.String(),
  client_secret: Type.String(),
  amount_total: Type.Integer(),
  currency: Type.String(),
  line_items: Type.Array(LineItemOut),
  expires_at: Type.String(),
  payment: Nullable(Type.String()),
  fulfilment_status: Nullable(StringEnum(["pending", "delivered", "failed"] as const)),
  steps: Type.Array(
    Type.Object({
      step: Type.String(),
      method: Nullable(Type.String()),
      operator: Nullable(Type.String()),
      country: Nullable(Type.String()),
      created: Type.String(),
    }),
  ),
});
export const LinkOut = objectSchema("payment_link", {
  url: Type.String(),
  active: Type.Boolean(),
  amount_total: Type.Integer(),
  currency: Type.String(),
  expires_at: Nullable(Type.String()),
  max_uses: Nullable(Type.Integer()),
  uses: Type.Integer(),
});
export const List = (item: TSchema) =>
  Type.Object({ object: Type.Literal("list"), data: Type.Array(item), has_more: Type.Boolean() });
