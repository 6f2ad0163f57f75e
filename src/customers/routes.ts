import { Type } from "@sinclair/typebox";
import { IdParams, ListQuery, listBody, Metadata, type Routes, sendJson } from "../http/index.ts";
import type { Customers } from "./service.ts";

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

const ListCustomersQuery = Type.Composite(
  [ListQuery, Type.Object({ external_id: Type.Optional(Type.String({ maxLength: 200 })) })],
  { additionalProperties: false },
);

/** Customers, on the secret-key surface. */
export const customerRoutes: Routes<Customers> = async (app, customers) => {
  app.post(
    "/customers",
    { schema: { tags: ["customers"], body: CreateCustomerBody } },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx) => customers.create(tx, request.scope, request.body),
      }),
  );
  app.get(
    "/customers",
    { schema: { tags: ["customers"], querystring: ListCustomersQuery } },
    async (request, reply) => {
      const query = request.query;
      const page = await customers.list(request.scope, { external_id: query.external_id }, query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get("/customers/:id", { schema: { tags: ["customers"], params: IdParams } }, async (request, reply) =>
    sendJson(reply, 200, await customers.get(request.scope, request.params.id)),
  );
};
