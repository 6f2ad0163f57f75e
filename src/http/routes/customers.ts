import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CustomerInput } from "../../customers/service.ts";
import { idempotentTransaction } from "../../idempotency/transaction.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { idempotentPost, secretScope } from "../guards.ts";
import { type ListParams, listBody } from "../lists.ts";
import { IdParams, ListQuery, Metadata } from "../schemas.ts";

const CreateCustomerBody = Type.Object(
  {
    external_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    email: Type.Optional(Type.String({ maxLength: 320, pattern: "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$" })),
    msisdn: Type.Optional(
      Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$", description: "E.164, e.g. +33612345678" }),
    ),
    country: Type.Optional(Type.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2" })),
    time_zone: Type.Optional(Type.String({ maxLength: 64, description: "IANA time zone name" })),
    locale: Type.Optional(Type.String({ maxLength: 35 })),
    metadata: Type.Optional(Metadata),
    test_clock: Type.Optional(Type.String({ maxLength: 64, description: "Test mode: a test clock's id" })),
    referred_by: Type.Optional(
      Type.String({
        maxLength: 64,
        description: "The customer who referred this one (affiliate commissions)",
      }),
    ),
  },
  { additionalProperties: false },
);

export function customerRoutes(services: Services) {
  return async (app: FastifyInstance) => {
    app.post(
      "/customers",
      { schema: { tags: ["customers"], body: CreateCustomerBody } },
      async (request, reply) => {
        const scope = secretScope(request);
        return idempotentPost(services, request, reply, scope, (idem) =>
          idempotentTransaction(services.db, services.clock, scope, idem, async (tx) => ({
            statusCode: 201,
            body: JSON.stringify(await services.customers.create(tx, scope, request.body as CustomerInput)),
          })),
        );
      },
    );
    app.get(
      "/customers",
      {
        schema: {
          tags: ["customers"],
          querystring: Type.Composite(
            [ListQuery, Type.Object({ external_id: Type.Optional(Type.String({ maxLength: 200 })) })],
            {
              additionalProperties: false,
            },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const query = request.query as ListParams & { external_id?: string };
        const page = await services.customers.list(scope, { external_id: query.external_id }, query);
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );
    app.get(
      "/customers/:id",
      { schema: { tags: ["customers"], params: IdParams } },
      async (request, reply) => {
        const scope = secretScope(request);
        return sendJson(
          reply,
          200,
          await services.customers.get(scope, (request.params as { id: string }).id),
        );
      },
    );
  };
}
