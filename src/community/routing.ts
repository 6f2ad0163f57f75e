import { type TSchema, Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Queryable } from "../db/db.ts";
import type { IdempotencyContext } from "../idempotency/index.ts";
import { GRANT_AMOUNT_MAX } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";

/**
 * What the HTTP layer hands to the community routes (wallets, currencies, memberships, vouchers,
 * commissions), so those folders never import src/http: the request's scope and key, and the
 * idempotent POST machinery.
 */
export interface RouteContext {
  /** The merchant and mode of a secret-key request; 403 otherwise. */
  scope(request: FastifyRequest): AuthScope;
  /** Who is asking: the admin, or a merchant's key id. */
  principal(
    request: FastifyRequest,
  ): { kind: "admin" } | { kind: "merchant"; keyId: string; scope: AuthScope };
  /** An idempotent POST whose work runs in one transaction with its Idempotency-Key record. */
  post(
    request: FastifyRequest,
    reply: FastifyReply,
    scope: AuthScope,
    work: (tx: Queryable, nowMs: number) => Promise<{ statusCode: number; body: string }>,
  ): Promise<FastifyReply>;
  /** An idempotent POST that manages its own transactions (gets the key, when there is one). */
  postRaw(
    request: FastifyRequest,
    reply: FastifyReply,
    scope: AuthScope,
    execute: (idempotency: IdempotencyContext | undefined) => Promise<{ statusCode: number; body: string }>,
  ): Promise<FastifyReply>;
  send(reply: FastifyReply, statusCode: number, body: unknown): FastifyReply;
}

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      type: Type.String(),
      code: Type.String(),
      message: Type.String(),
      param: Type.Optional(Type.String()),
    }),
  },
  { description: "An error: see the catalogue of codes." },
);

/** The usual error answers of a route, plus its own. */
export function withErrors(
  responses: Record<number, TSchema>,
  ...statuses: number[]
): Record<number, TSchema> {
  const out: Record<number, TSchema> = { ...responses };
  for (const status of [400, 401, 403, 404, 409, 422, 429, ...statuses]) out[status] ??= ErrorResponse;
  return out;
}

export function listSchema(item: TSchema) {
  return Type.Object({ object: Type.Literal("list"), data: Type.Array(item), has_more: Type.Boolean() });
}

export const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) }, { additionalProperties: false });
export const CustomerId = Type.String({ maxLength: 64, description: "A customer id (cus_…)." });
export const CurrencyCode = Type.String({
  pattern: "^[A-Z]{3,8}$",
  description: "An ISO 4217 code or an inner currency's code (4 to 8 capital letters).",
});
export const Decimal = Type.String({
  pattern: "^(0|[1-9][0-9]{0,11})(\\.[0-9]{1,12})?$",
  description: 'A decimal string, e.g. "120" or "0.0125".',
});
export const Timestamp = Type.String({ format: "date-time" });
export const MinorAmount = Type.Integer({ minimum: 1, maximum: GRANT_AMOUNT_MAX });
export const TimestampInput = Type.String({
  pattern:
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$",
  description: "ISO 8601 date-time, e.g. 2026-03-01T00:00:00Z",
});
