import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { getRefund, listRefunds } from "../../payments/queries.ts";
import { createRefund } from "../../payments/refund.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { idempotentPost, secretScope } from "../guards.ts";
import { type ListParams, listBody } from "../lists.ts";
import { Amount, IdParams, ListQuery, Metadata, Text } from "../schemas.ts";

const CreateRefundBody = Type.Object(
  {
    payment: Type.String({ maxLength: 64 }),
    amount: Type.Optional(Amount),
    reason: Type.Optional(Text(500)),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

export function refundRoutes(services: Services) {
  const ctx = services.payments;
  return async (app: FastifyInstance) => {
    app.post(
      "/refunds",
      { schema: { tags: ["refunds"], body: CreateRefundBody } },
      async (request, reply) => {
        const scope = secretScope(request);
        return idempotentPost(services, request, reply, scope, (idem) =>
          createRefund(ctx, scope, request.body as { payment: string; amount?: number }, idem),
        );
      },
    );
    app.get(
      "/refunds",
      {
        schema: {
          tags: ["refunds"],
          querystring: Type.Composite(
            [ListQuery, Type.Object({ payment: Type.Optional(Type.String({ maxLength: 64 })) })],
            {
              additionalProperties: false,
            },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const query = request.query as ListParams & { payment?: string };
        const page = await listRefunds(ctx, scope, { payment: query.payment }, query);
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );
    app.get("/refunds/:id", { schema: { tags: ["refunds"], params: IdParams } }, async (request, reply) => {
      const scope = secretScope(request);
      return sendJson(reply, 200, await getRefund(ctx, scope, (request.params as { id: string }).id));
    });
  };
}
