import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { InteractionRow } from "../../payments/queries.ts";
import { iso } from "../../platform/clock.ts";
import { ApiError } from "../../platform/errors.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { secretScope } from "../guards.ts";
import { type ListParams, listBody, listPage } from "../lists.ts";
import { ListQuery } from "../schemas.ts";

const ISO_TIME = "^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,6})?)?(Z|[+-]\\d{2}:\\d{2}))?$";

const Query = Type.Composite(
  [
    ListQuery,
    Type.Object({
      payment: Type.Optional(Type.String({ maxLength: 64 })),
      msisdn: Type.Optional(Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$" })),
      operator: Type.Optional(Type.String({ maxLength: 16 })),
      attempt: Type.Optional(Type.String({ maxLength: 64 })),
      "created[gte]": Type.Optional(Type.String({ pattern: ISO_TIME, description: "ISO 8601" })),
      "created[lte]": Type.Optional(Type.String({ pattern: ISO_TIME, description: "ISO 8601" })),
      merchant: Type.Optional(
        Type.String({ maxLength: 64, description: "Admin key only: one merchant's log." }),
      ),
    }),
  ],
  { additionalProperties: false },
);

function present(row: InteractionRow) {
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

/**
 * The append-only log of every exchange with an outside provider, searchable by payment, MSISDN,
 * operator and time: a merchant sees its own, the admin key sees everyone's (or one merchant's).
 */
export function interactionRoutes(services: Services) {
  return async (app: FastifyInstance) => {
    app.get(
      "/provider_interactions",
      { schema: { tags: ["payments"], querystring: Query } },
      async (request, reply) => {
        const query = request.query as ListParams & Record<string, string | undefined>;
        const where: string[] = [];
        const params: unknown[] = [];
        const add = (sql: string, value: unknown) => {
          params.push(value);
          where.push(sql.replace("?", `$${params.length}`));
        };
        scopeOf(request, query.merchant, add);
        if (query.payment) add("payment_id = ?", query.payment);
        if (query.msisdn) add("msisdn = ?", query.msisdn);
        if (query.operator) add("operator = ?", query.operator);
        if (query.attempt) add("attempt_id = ?", query.attempt);
        if (query["created[gte]"]) add("created >= ?", new Date(query["created[gte]"]));
        if (query["created[lte]"]) add("created <= ?", new Date(query["created[lte]"]));
        if (where.length === 0) where.push("true");
        const page = await listPage<InteractionRow>(
          services.db,
          "provider_interactions",
          where,
          params,
          query,
        );
        return sendJson(reply, 200, listBody(page.rows.map(present), page.hasMore));
      },
    );
  };
}

function scopeOf(
  request: FastifyRequest,
  merchant: string | undefined,
  add: (sql: string, value: unknown) => void,
): void {
  if (request.auth.kind === "admin") {
    if (merchant) add("merchant_id = ?", merchant);
    return;
  }
  if (merchant) throw new ApiError("admin_key_required", "merchant");
  const scope = secretScope(request);
  add("merchant_id = ?", scope.merchantId);
  add("mode = ?", scope.mode);
}
