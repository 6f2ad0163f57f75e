import { type TSchema, Type } from "@sinclair/typebox";
import { ID_PATTERN, type IdPrefix } from "../platform/ids.ts";
import { LIMITS } from "../platform/limits.ts";
import { AMOUNT_MAX, knownCurrencies } from "../platform/money.ts";

/** Reusable pieces of request and response schemas. */
export const Amount = Type.Integer({
  minimum: 1,
  maximum: AMOUNT_MAX,
  description: "A positive integer in the currency's minor unit (EUR 1.99 = 199).",
});

/** A string from a fixed list, validated (and documented) as a JSON Schema enum. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description?: string } = {},
) {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

export const Currency = Type.Unsafe<string>({
  type: "string",
  enum: knownCurrencies(),
  description: "An upper-case ISO 4217 currency code.",
});

/** An ISO 4217 code, or one of the merchant's inner currencies (4 to 8 capital letters). */
export const AnyCurrency = Type.Unsafe<string>({
  anyOf: [
    { type: "string", enum: knownCurrencies() },
    { type: "string", pattern: "^[A-Z]{4,8}$" },
  ],
  description: "An upper-case ISO 4217 code, or an inner currency's code (4 to 8 capital letters).",
});

export const Text = (maxLength: number = LIMITS.string_length_max) => Type.String({ maxLength });

export const Metadata = Type.Record(
  Type.String({ maxLength: LIMITS.metadata_key_length_max }),
  Type.String({ maxLength: LIMITS.metadata_value_length_max }),
  {
    // A record's JSON schema keeps only the values' schema: the keys' limit is said again here.
    propertyNames: { maxLength: LIMITS.metadata_key_length_max },
    maxProperties: LIMITS.metadata_keys_max,
    description: "Up to 50 string keys (at most 40 characters each) and values (at most 500) of your own.",
  },
);

/**
 * An instant as ISO 8601 (`2026-03-01T00:00:00Z`, or a date), between 1970 and 9999: earlier
 * years make no sense for payments (and years below 100 read back wrong on the embedded
 * database), later ones do not fit the four digits of ISO 8601. Checked by the `date-time` format
 * of src/http/validation.ts.
 */
export const IsoTimestamp = Type.String({
  format: "date-time",
  maxLength: 40,
  description: "ISO 8601 date-time between 1970 and 9999, e.g. 2026-03-01T00:00:00Z",
});

/** A list's cursor: the id of an object of the list (src/platform/ids.ts; src/db/pages.ts checks it too). */
export const CursorId = Type.String({
  maxLength: 64,
  pattern: ID_PATTERN.source,
  description: "The id of an object of this list: the page starts after (or ends before) it",
});

/**
 * A filter naming an object by id (`?customer=cus_…`): a value that cannot be such an id is a 400
 * naming the parameter, not an empty list that reads as "none yet".
 */
export function IdOf(prefix: IdPrefix, description: string) {
  return Type.String({ maxLength: 64, pattern: `^${prefix}_[0-9a-z]{26}$`, description });
}

export const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: LIMITS.list_limit_max, default: LIMITS.list_limit_default }),
    starting_after: Type.Optional(CursorId),
    ending_before: Type.Optional(CursorId),
  },
  { additionalProperties: false },
);

export const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) }, { additionalProperties: false });

export const ErrorBody = Type.Object({
  error: Type.Object({
    type: Type.String(),
    code: Type.String(),
    message: Type.String(),
    param: Type.Optional(Type.String()),
  }),
});

export function listOf(item: TSchema) {
  return Type.Object({ object: Type.Literal("list"), data: Type.Array(item), has_more: Type.Boolean() });
}

/** An object response: documented loosely (`additionalProperties`) with its known fields. */
export function objectSchema(name: string, properties: Record<string, TSchema>) {
  return Type.Object(
    {
      id: Type.String(),
      object: Type.Literal(name),
      created: Type.String({ format: "date-time" }),
      ...properties,
    },
    { additionalProperties: true, $id: undefined },
  );
}

/** A value or null (documented as `anyOf`, which client generators turn into `T | null`). */
export function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

/** An instant in an answer: ISO 8601 in UTC with milliseconds. */
export const Instant = Type.String({ format: "date-time", examples: ["2026-03-01T10:00:00.000Z"] });

/** A JSON integer in a currency's minor unit, in an answer (sums may exceed 2^53: docs/http.md). */
export const MinorUnits = Type.Integer({ description: "In the currency's minor unit." });

/**
 * A four-eyes request (202): what a staff member's money-moving or access-changing write answers
 * when a second person must approve it (refunds above the threshold, voucher batches, ledger
 * adjustments, role changes).
 */
export const ApprovalObject = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("approval"),
    created: Type.String({ format: "date-time" }),
    status: Type.String({ examples: ["pending", "approved", "rejected", "expired", "executed", "failed"] }),
    action: Type.String(),
    arguments: Type.Unknown(),
    permission: Type.String(),
    merchant: Type.Union([Type.String(), Type.Null()]),
    livemode: Type.Boolean(),
    maker: Type.Unknown(),
    expires_at: Type.String({ format: "date-time" }),
    decided_by: Type.Unknown(),
    decided_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
    result: Type.Unknown(),
  },
  {
    description: "A four-eyes approval: the write runs once a second person with the permission approves it.",
  },
);
