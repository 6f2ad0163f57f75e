import { Type } from "@sinclair/typebox";
import type { Api } from "../http/surfaces.ts";
import type { PaymentsContext } from "../payments/context.ts";
import { presentPayment } from "../payments/model.ts";
import { listUnresolvedPayments } from "../payments/reconcile.ts";

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
        description: "How many times the provider was asked since the outcome went unknown.",
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

const Query = Type.Object(
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
 * `processing` and is still asked about; settle it with the provider's records.
 */
export async function unresolvedRoutes(app: Api, ctx: PaymentsContext): Promise<void> {
  app.get(
    "/payments/unresolved",
    {
      schema: {
        tags: ["payments"],
        operationId: "listUnresolvedPayments",
        summary: "List payment attempts flagged for a person by reconciliation",
        querystring: Query,
        response: { 200: UnresolvedList },
      },
    },
    async (request) => {
      const page = await listUnresolvedPayments(ctx, request.scope, request.query);
      return {
        object: "list" as const,
        data: page.rows.map((row) => ({
          ...presentPayment(row),
          reconciliation: {
            status: "unresolved" as const,
            unresolved_since: new Date(row.unresolved_since ?? 0).toISOString(),
            checks: row.reconcile_checks ?? 0,
          },
        })),
        has_more: page.hasMore,
      };
    },
  );
}
