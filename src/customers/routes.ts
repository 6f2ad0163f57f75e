import { Type } from "@sinclair/typebox";
import {
  IdParams,
  Instant,
  ListQuery,
  listBody,
  listOf,
  Metadata,
  Nullable,
  type Routes,
  sendJson,
} from "../http/index.ts";
import type { Customers } from "./service.ts";

const Address = Type.Object(
  {
    line1: Type.String({ minLength: 1, maxLength: 200, description: "Street and number" }),
    line2: Type.Optional(Type.String({ maxLength: 200, description: "Flat, floor, building" })),
    city: Type.String({ minLength: 1, maxLength: 100 }),
    postal_code: Type.Optional(
      Type.String({
        maxLength: 16,
        description: "Letters, digits, spaces and hyphens; not checked per country",
      }),
    ),
    region: Type.Optional(
      Type.String({ maxLength: 100, description: "State, province, county, prefecture" }),
    ),
    country: Type.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2" }),
  },
  {
    additionalProperties: false,
    description: "A postal address; the back office shows it the way its country writes addresses.",
    examples: [{ line1: "12 rue de la Paix", city: "Paris", postal_code: "75002", country: "FR" }],
  },
);

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
    address: Type.Optional(Address),
    test_clock: Type.Optional(Type.String({ maxLength: 64, description: "Test mode: a test clock's id" })),
    referred_by: Type.Optional(
      Type.String({
        maxLength: 64,
        description: "The customer who referred this one (affiliate commissions)",
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        external_id: "player-42",
        email: "ana@example.com",
        msisdn: "+33612345678",
        country: "FR",
        time_zone: "Europe/Paris",
        locale: "fr-FR",
        metadata: { guild: "north" },
      },
    ],
  },
);

const Customer = Type.Object({
  id: Type.String({ examples: ["cus_01m8nf5vjpdd938gb1tdrm6npc"] }),
  object: Type.Literal("customer"),
  created: Instant,
  livemode: Type.Boolean(),
  external_id: Nullable(Type.String()),
  email: Nullable(Type.String()),
  msisdn: Nullable(Type.String({ description: "E.164" })),
  country: Nullable(Type.String()),
  time_zone: Nullable(Type.String()),
  locale: Nullable(Type.String()),
  metadata: Type.Record(Type.String(), Type.String()),
  address: Nullable(Address),
  test_clock: Nullable(Type.String()),
  referred_by: Nullable(Type.String()),
});

const UpdateCustomerBody = Type.Object(
  {
    external_id: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
    email: Type.Optional(
      Nullable(Type.String({ maxLength: 320, pattern: "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$" })),
    ),
    msisdn: Type.Optional(Nullable(Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$", description: "E.164" }))),
    country: Type.Optional(
      Nullable(Type.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2" })),
    ),
    time_zone: Type.Optional(Nullable(Type.String({ maxLength: 64, description: "IANA time zone name" }))),
    locale: Type.Optional(Nullable(Type.String({ maxLength: 35 }))),
    metadata: Type.Optional(Metadata),
    address: Type.Optional(Nullable(Address)),
  },
  {
    additionalProperties: false,
    description: 'The fields to change; null clears one. Metadata is merged (a key set to "" is removed).',
    examples: [
      {
        address: {
          line1: "1600 Amphitheatre Pkwy",
          city: "Mountain View",
          region: "CA",
          postal_code: "94043",
          country: "US",
        },
      },
    ],
  },
);

const ListCustomersQuery = Type.Composite(
  [ListQuery, Type.Object({ external_id: Type.Optional(Type.String({ maxLength: 200 })) })],
  { additionalProperties: false },
);

/** Customers, on the secret-key surface. */
export const customerRoutes: Routes<Customers> = async (app, customers) => {
  app.post(
    "/customers",
    {
      schema: {
        tags: ["customers"],
        operationId: "createCustomer",
        summary: "Create a customer",
        body: CreateCustomerBody,
        response: { 201: Customer },
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx) => customers.create(tx, request.scope, request.body),
      }),
  );
  app.post(
    "/customers/:id",
    {
      schema: {
        tags: ["customers"],
        operationId: "updateCustomer",
        summary: "Change a customer (its address, contact details, metadata)",
        params: IdParams,
        body: UpdateCustomerBody,
        response: { 200: Customer },
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 200,
        work: (tx) => customers.update(tx, request.scope, request.params.id, request.body),
      }),
  );
  app.get(
    "/customers",
    {
      schema: {
        tags: ["customers"],
        operationId: "listCustomers",
        summary: "List customers, or find one by external_id",
        querystring: ListCustomersQuery,
        response: { 200: listOf(Customer) },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const page = await customers.list(request.scope, { external_id: query.external_id }, query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/customers/:id",
    {
      schema: {
        tags: ["customers"],
        operationId: "getCustomer",
        summary: "Retrieve a customer",
        params: IdParams,
        response: { 200: Customer },
      },
    },
    async (request, reply) => sendJson(reply, 200, await customers.get(request.scope, request.params.id)),
  );
};
