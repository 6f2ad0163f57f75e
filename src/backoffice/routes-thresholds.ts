import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { ApiError } from "../platform/errors.ts";
import { type BackOfficeServices, idempotentWrite } from "./context.ts";
import { Currency, errors, IdParams, Thresholds } from "./routes-schemas.ts";

/** A merchant's refund amounts above which a refund needs a second person. */
export function thresholdRoutes(app: FastifyInstance, services: BackOfficeServices, tags: string[]): void {
  app.post(
    "/merchants/:id/refund_approval_thresholds",
    {
      schema: {
        tags,
        operationId: "setRefundApprovalThreshold",
        summary: "Refunds by staff above this amount (minor units) in this currency need a second person.",
        params: IdParams,
        body: Type.Object(
          {
            currency: Currency,
            amount: Type.Union([Type.Integer({ minimum: 0, maximum: 999_999_999_999 }), Type.Null()]),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Thresholds,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const id = (request.params as { id: string }).id;
      const body = request.body as { currency: string; amount: number | null };
      return idempotentWrite(services, request, reply, async (tx) => {
        const { rows } = await tx.query<{ thresholds: Record<string, number> }>(
          `update merchants set refund_approval_thresholds = case when $3::bigint is null
             then refund_approval_thresholds - $2::text
             else refund_approval_thresholds || jsonb_build_object($2::text, $3::bigint) end
           where id = $1 returning refund_approval_thresholds as thresholds`,
          [id, body.currency, body.amount],
        );
        if (!rows[0]) throw new ApiError("resource_missing", "id", "No such merchant.");
        return {
          statusCode: 200,
          body: JSON.stringify({
            object: "refund_approval_thresholds",
            merchant: id,
            thresholds: rows[0].thresholds,
          }),
        };
      });
    },
  );
}
