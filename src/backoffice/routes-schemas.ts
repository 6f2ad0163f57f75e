import { type TSchema, Type } from "@sinclair/typebox";
import { ApprovalObject, ListQuery } from "../http/index.ts";

/** Schemas the back office's JSON API shares across its routes (routes.ts and routes-*.ts). */
export const Id = Type.String({ maxLength: 64 });
export const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
export const Loose = (description: string) => Type.Object({}, { additionalProperties: true, description });
export const ListOf = (item: TSchema) =>
  Type.Object({ object: Type.Literal("list"), data: Type.Array(item), has_more: Type.Boolean() });
export const Err = Type.Object({ error: Type.Object({}, { additionalProperties: true }) });
export const errors = { 400: Err, 401: Err, 403: Err, 404: Err, 409: Err };
export const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 10 });
/** A catalogue's list (roles, permissions): a cursor names an item of it, checked against the list. */
const CatalogueCursor = (item: string) =>
  Type.String({ maxLength: 64, description: `The ${item} the page starts after (or ends before)` });
export const CatalogueListQuery = (item: string) =>
  Type.Object(
    {
      limit: ListQuery.properties.limit,
      starting_after: Type.Optional(CatalogueCursor(item)),
      ending_before: Type.Optional(CatalogueCursor(item)),
    },
    { additionalProperties: false },
  );
export const Currency = Type.String({ pattern: "^[A-Z]{3}$" });
export const Str = Type.String();
export const NullableStr = Type.Union([Str, Type.Null()]);
export const Staff = Type.Object(
  {
    id: Str,
    object: Type.Literal("staff"),
    created: Type.String({ format: "date-time" }),
    email: Str,
    role: Str,
    merchant: NullableStr,
    mode: NullableStr,
    time_zone: NullableStr,
    locale: NullableStr,
    password_set: Type.Boolean(),
    totp_enabled: Type.Boolean(),
    disabled: Type.Boolean(),
  },
  { description: "A member of staff." },
);
export const ShownOnce = (schema: TSchema) =>
  Type.Union([schema, Type.Null()], { description: "Null on a replay." });
export const CreatedStaff = Type.Object({
  staff: Staff,
  api_key: ShownOnce(Type.String({ description: "sk_staff_…: shown once." })),
  totp: ShownOnce(Type.Object({ secret: Str, uri: Str }, { description: "The TOTP secret: shown once." })),
});
export const Role = Type.Object(
  { id: Str, object: Type.Literal("role"), name: Str, permissions: Type.Array(Str), default: Type.Boolean() },
  { additionalProperties: true },
);
export const Approval = ApprovalObject;
export const Permission = Type.Object({ object: Type.Literal("permission"), name: Str, description: Str });
export const AuditEvent = Type.Object(
  {
    id: Str,
    object: Type.Literal("audit_event"),
    created: Type.String({ format: "date-time" }),
    actor: Type.Unknown(),
  },
  { additionalProperties: true, description: "Who did what, when, to what: one link of the hash chain." },
);
export const Checkpoint = Type.Object({
  object: Type.Literal("audit_checkpoint"),
  day: Type.String({ format: "date" }),
  created: Type.String({ format: "date-time" }),
  heads: Type.Array(
    Type.Object({ lane: Type.Integer(), seq: Type.String({ description: "A decimal integer." }), hash: Str }),
  ),
});
export const Thresholds = Type.Object({
  object: Type.Literal("refund_approval_thresholds"),
  merchant: Str,
  thresholds: Type.Record(Type.String(), Type.Integer(), { description: "Minor units per currency." }),
});

/** The back office's JSON API on the secret-or-admin surface. */
