import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { PriceInput, ProductInput } from "../../billing/catalog.ts";
import { SANDBOX_SUBSCRIPTION_SCENARIOS } from "../../billing/charger.ts";
import {
  advanceTestClock,
  createTestClock,
  getTestClock,
  kickTestClock,
  listTestClocks,
} from "../../billing/clocks.ts";
import type { Billing } from "../../billing/index.ts";
import type { SubscriptionStatus } from "../../billing/model.ts";
import { DEFAULT_DUNNING_POLICY, type DunningPolicy, policyProblem } from "../../billing/policy.ts";
import { forgetPolicies } from "../../billing/scheduler.ts";
import {
  type CancelReason,
  type CreateSubscriptionInput,
  cancelSubscription,
  confirmSubscription,
  createSubscription,
  getSubscription,
  handleMoMessage,
  listSubscriptions,
  setPaused,
} from "../../billing/subscriptions.ts";
import type { Queryable } from "../../db/db.ts";
import type { IdempotencyContext } from "../../idempotency/gate.ts";
import { idempotentTransaction } from "../../idempotency/transaction.ts";
import { iso } from "../../platform/clock.ts";
import { ApiError } from "../../platform/errors.ts";
import { newId } from "../../platform/ids.ts";
import type { AuthScope } from "../../platform/scope.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { idempotentPost, secretScope } from "../guards.ts";
import { type ListParams, listBody } from "../lists.ts";
import { Amount, AnyCurrency, IdParams, ListQuery, Metadata, StringEnum, Text } from "../schemas.ts";

const Country = Type.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2" });
const Operator = Type.String({ pattern: "^[0-9]{5,6}$", description: "MCC+MNC, e.g. 20801" });
const Msisdn = Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$", description: "E.164, e.g. +33612345678" });
const ObjectId = Type.String({ minLength: 1, maxLength: 64 });

const ProductBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 250 }),
    description: Type.Optional(Text(1000)),
    parent: Type.Optional(ObjectId),
    active: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const ProductUpdateBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 250 })),
    description: Type.Optional(Text(1000)),
    active: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const PriceBody = Type.Object(
  {
    product: ObjectId,
    amount: Amount,
    currency: AnyCurrency,
    country: Type.Optional(Country),
    grants: Type.Optional(
      Type.Object(
        {
          entitlement: Type.String({ pattern: "^[a-z0-9][a-z0-9_.-]{0,63}$" }),
          period: Type.String({ minLength: 2, maxLength: 40, description: "ISO 8601 duration: P30D, P1M" }),
        },
        { additionalProperties: false, description: "Access this price grants when bought (memberships)." },
      ),
    ),
    recurring: Type.Optional(
      Type.Object(
        {
          period: Type.String({
            minLength: 2,
            maxLength: 40,
            description: "ISO 8601 duration: P1D, P1W, P1M",
          }),
        },
        { additionalProperties: false },
      ),
    ),
    trial_days: Type.Optional(Type.Integer({ minimum: 0, maximum: 730 })),
    active: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const SandboxMethod = Type.Object(
  {
    type: Type.Literal("sandbox"),
    scenario: StringEnum(SANDBOX_SUBSCRIPTION_SCENARIOS),
    operator: Type.Optional(Operator),
    msisdn: Type.Optional(Msisdn),
    balance: Type.Optional(Type.Integer({ minimum: 0, maximum: 999_999_999_999 })),
  },
  { additionalProperties: false, description: "Test mode only: the scenario drives every charge." },
);
const CarrierMethod = Type.Object(
  { type: Type.Literal("carrier"), msisdn: Msisdn, operator: Type.Optional(Operator) },
  { additionalProperties: false, description: "Direct carrier billing on the subscriber's phone bill." },
);
const SubscriptionMethod = Type.Unsafe({
  type: "object",
  discriminator: { propertyName: "type" },
  required: ["type"],
  oneOf: [SandboxMethod, CarrierMethod],
});

const ConsentBody = Type.Object(
  {
    method: StringEnum(["web", "mo", "header_enrichment", "pin", "operator_page", "api"] as const),
    ip_address: Type.Optional(Type.String({ maxLength: 64 })),
    user_agent: Type.Optional(Text(500)),
    text: Type.Optional(Text(1000)),
    reference: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false, description: "How and where the subscriber agreed (kept as evidence)." },
);

const SubscriptionBody = Type.Object(
  {
    customer: ObjectId,
    price: ObjectId,
    payment_method: SubscriptionMethod,
    consent: Type.Optional(ConsentBody),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

const STATUSES = ["incomplete", "trialing", "active", "past_due", "paused", "canceled"] as const;

const PolicyBody = Type.Object(
  {
    operator: Type.Optional(Operator),
    retry_delays_minutes: Type.Optional(
      Type.Array(Type.Integer({ minimum: 15, maximum: 10080 }), { maxItems: 20 }),
    ),
    retry_days_max: Type.Optional(Type.Integer({ minimum: 0, maximum: 60 })),
    final_action: Type.Optional(StringEnum(["cancel", "pause"] as const)),
    partial_ladder_percent: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: 100 }), { maxItems: 10 }),
    ),
    debt_retry_minutes: Type.Optional(Type.Integer({ minimum: 15, maximum: 43200 })),
    debt_write_off_days: Type.Optional(Type.Integer({ minimum: 0, maximum: 365 })),
    defer_period_on_late_payment: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const EmptyBody = Type.Optional(Type.Object({}, { additionalProperties: false }));
const FrozenTime = Type.String({
  minLength: 10,
  maxLength: 40,
  description: "ISO 8601 date-time, e.g. 2026-03-01T00:00:00Z",
});

const idOf = (request: FastifyRequest) => (request.params as { id: string }).id;

/** Catalog, subscriptions, dunning policies, MO messages and test clocks. */
export function billingRoutes(services: Services & { billing: Billing }) {
  const { context: ctx, catalog } = services.billing;
  /** A write in its own transaction with the Idempotency-Key claimed in it. */
  const write = (
    scope: AuthScope,
    idem: IdempotencyContext | undefined,
    statusCode: number,
    work: (tx: Queryable) => Promise<unknown>,
  ) =>
    idempotentTransaction(services.db, services.clock, scope, idem, async (tx) => ({
      statusCode,
      body: JSON.stringify(await work(tx)),
    }));
  return async (app: FastifyInstance) => {
    // Catalog ---------------------------------------------------------------------------------
    app.post("/products", { schema: { tags: ["billing"], body: ProductBody } }, async (request, reply) => {
      const scope = secretScope(request);
      return idempotentPost(services, request, reply, scope, (idem) =>
        write(scope, idem, 201, (tx) => catalog.createProduct(tx, scope, request.body as ProductInput)),
      );
    });
    app.get(
      "/products",
      {
        schema: {
          tags: ["billing"],
          querystring: Type.Composite(
            [
              ListQuery,
              Type.Object({ parent: Type.Optional(ObjectId), active: Type.Optional(Type.Boolean()) }),
            ],
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const q = request.query as ListParams & { parent?: string; active?: boolean };
        const page = await catalog.listProducts(scope, { parent: q.parent, active: q.active }, q);
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );
    app.get("/products/:id", { schema: { tags: ["billing"], params: IdParams } }, async (request, reply) =>
      sendJson(reply, 200, await catalog.getProduct(secretScope(request), idOf(request))),
    );
    app.post(
      "/products/:id",
      { schema: { tags: ["billing"], params: IdParams, body: ProductUpdateBody } },
      async (request, reply) => {
        const scope = secretScope(request);
        return idempotentPost(services, request, reply, scope, (idem) =>
          write(scope, idem, 200, (tx) =>
            catalog.updateProduct(tx, scope, idOf(request), request.body as ProductInput),
          ),
        );
      },
    );

    app.post("/prices", { schema: { tags: ["billing"], body: PriceBody } }, async (request, reply) => {
      const scope = secretScope(request);
      return idempotentPost(services, request, reply, scope, (idem) =>
        write(scope, idem, 201, (tx) => catalog.createPrice(tx, scope, request.body as PriceInput)),
      );
    });
    app.get(
      "/prices",
      {
        schema: {
          tags: ["billing"],
          querystring: Type.Composite(
            [
              ListQuery,
              Type.Object({
                product: Type.Optional(ObjectId),
                currency: Type.Optional(Type.String({ maxLength: 3 })),
                country: Type.Optional(Country),
                active: Type.Optional(Type.Boolean()),
              }),
            ],
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const q = request.query as ListParams & {
          product?: string;
          currency?: string;
          country?: string;
          active?: boolean;
        };
        const page = await catalog.listPrices(
          scope,
          { product: q.product, currency: q.currency, country: q.country, active: q.active },
          q,
        );
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );
    app.get("/prices/:id", { schema: { tags: ["billing"], params: IdParams } }, async (request, reply) =>
      sendJson(reply, 200, await catalog.getPrice(secretScope(request), idOf(request))),
    );
    app.post(
      "/prices/:id",
      {
        schema: {
          tags: ["billing"],
          params: IdParams,
          body: Type.Object(
            { active: Type.Optional(Type.Boolean()), metadata: Type.Optional(Metadata) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        return idempotentPost(services, request, reply, scope, (idem) =>
          write(scope, idem, 200, (tx) =>
            catalog.updatePrice(tx, scope, idOf(request), request.body as { active?: boolean }),
          ),
        );
      },
    );

    // Subscriptions ---------------------------------------------------------------------------
    app.post(
      "/subscriptions",
      { schema: { tags: ["billing"], body: SubscriptionBody } },
      async (request, reply) => {
        const scope = secretScope(request);
        return idempotentPost(services, request, reply, scope, (idem) =>
          createSubscription(ctx, scope, request.body as CreateSubscriptionInput, idem),
        );
      },
    );
    app.get(
      "/subscriptions",
      {
        schema: {
          tags: ["billing"],
          querystring: Type.Composite(
            [
              ListQuery,
              Type.Object({
                customer: Type.Optional(ObjectId),
                price: Type.Optional(ObjectId),
                status: Type.Optional(StringEnum(STATUSES)),
                test_clock: Type.Optional(ObjectId),
              }),
            ],
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const q = request.query as ListParams & {
          customer?: string;
          price?: string;
          status?: SubscriptionStatus;
          test_clock?: string;
        };
        const page = await listSubscriptions(
          ctx,
          scope,
          { customer: q.customer, price: q.price, status: q.status, test_clock: q.test_clock },
          q,
        );
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );
    app.get(
      "/subscriptions/:id",
      { schema: { tags: ["billing"], params: IdParams } },
      async (request, reply) =>
        sendJson(reply, 200, await getSubscription(ctx, secretScope(request), idOf(request))),
    );
    app.post(
      "/subscriptions/:id/confirm",
      {
        schema: {
          tags: ["billing"],
          params: IdParams,
          body: Type.Object(
            { pin: Type.String({ minLength: 1, maxLength: 16 }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        return idempotentPost(services, request, reply, scope, (idem) =>
          confirmSubscription(ctx, scope, idOf(request), request.body as { pin: string }, idem),
        );
      },
    );
    app.post(
      "/subscriptions/:id/cancel",
      {
        schema: {
          tags: ["billing"],
          params: IdParams,
          body: Type.Optional(
            Type.Object(
              { reason: Type.Optional(StringEnum(["requested", "subscriber"] as const)) },
              { additionalProperties: false },
            ),
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const reason: CancelReason =
          (request.body as { reason?: CancelReason } | undefined)?.reason ?? "requested";
        return idempotentPost(services, request, reply, scope, (idem) =>
          cancelSubscription(ctx, scope, idOf(request), reason, idem),
        );
      },
    );
    for (const [path, paused] of [
      ["pause", true],
      ["resume", false],
    ] as const) {
      app.post(
        `/subscriptions/:id/${path}`,
        { schema: { tags: ["billing"], params: IdParams, body: EmptyBody } },
        async (request, reply) => {
          const scope = secretScope(request);
          return idempotentPost(services, request, reply, scope, (idem) =>
            setPaused(ctx, scope, idOf(request), paused, idem),
          );
        },
      );
    }

    // An inbound MO (from a connector, or simulated in test mode): STOP cancels.
    app.post(
      "/mo_messages",
      {
        schema: {
          tags: ["billing"],
          body: Type.Object(
            { msisdn: Msisdn, text: Type.String({ minLength: 1, maxLength: 160 }) },
            {
              additionalProperties: false,
            },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const body = request.body as { msisdn: string; text: string };
        return idempotentPost(services, request, reply, scope, async () => {
          const result = await handleMoMessage(ctx, scope, body);
          return {
            statusCode: 200,
            body: JSON.stringify({
              object: "mo_message",
              msisdn: body.msisdn,
              text: body.text,
              stop: result.stop,
              canceled_subscriptions: result.canceled,
            }),
          };
        });
      },
    );

    // Dunning policies -------------------------------------------------------------------------
    app.post(
      "/dunning_policies",
      { schema: { tags: ["billing"], body: PolicyBody } },
      async (request, reply) => {
        const scope = secretScope(request);
        const body = request.body as Partial<DunningPolicy> & { operator?: string };
        const { operator, ...fields } = body;
        const policy: DunningPolicy = { ...DEFAULT_DUNNING_POLICY, ...fields };
        const problem = policyProblem(policy);
        if (problem) throw new ApiError("parameter_invalid", problem[0], `${problem[0]} ${problem[1]}.`);
        return idempotentPost(services, request, reply, scope, async () => {
          const nowMs = services.clock.nowMs();
          const { rows } = await services.db.query<{ id: string; created: Date }>(
            `insert into dunning_policies (id, merchant_id, mode, operator, policy, created, updated)
           values ($1, $2, $3, $4, $5, $6, $6)
           on conflict (merchant_id, mode, operator) do update set policy = excluded.policy, updated = excluded.updated
           returning id, created`,
            [
              newId("dpol", nowMs),
              scope.merchantId,
              scope.mode,
              operator ?? "",
              JSON.stringify(policy),
              new Date(nowMs),
            ],
          );
          const row = rows[0]!;
          forgetPolicies(scope.merchantId);
          return {
            statusCode: 200,
            body: JSON.stringify({
              id: row.id,
              object: "dunning_policy",
              created: iso(row.created.getTime()),
              operator: operator ?? null,
              ...policy,
            }),
          };
        });
      },
    );
    app.get("/dunning_policies", { schema: { tags: ["billing"] } }, async (request, reply) => {
      const scope = secretScope(request);
      const { rows } = await services.db.query<{
        id: string;
        operator: string;
        policy: DunningPolicy;
        created: Date;
      }>(
        "select id, operator, policy, created from dunning_policies where merchant_id = $1 and mode = $2 order by id desc",
        [scope.merchantId, scope.mode],
      );
      return sendJson(
        reply,
        200,
        listBody(
          rows.map((r) => ({
            id: r.id,
            object: "dunning_policy",
            created: iso(r.created.getTime()),
            operator: r.operator === "" ? null : r.operator,
            ...r.policy,
          })),
          false,
        ),
      );
    });

    // Test clocks -------------------------------------------------------------------------------
    app.post(
      "/test_clocks",
      {
        schema: {
          tags: ["billing"],
          body: Type.Object(
            { frozen_time: FrozenTime, name: Type.Optional(Type.String({ maxLength: 200 })) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        return idempotentPost(services, request, reply, scope, (idem) =>
          write(scope, idem, 201, (tx) =>
            createTestClock(ctx, tx, scope, request.body as { frozen_time: string }),
          ),
        );
      },
    );
    app.get(
      "/test_clocks",
      { schema: { tags: ["billing"], querystring: ListQuery } },
      async (request, reply) => {
        const page = await listTestClocks(ctx, secretScope(request), request.query as ListParams);
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );
    app.get("/test_clocks/:id", { schema: { tags: ["billing"], params: IdParams } }, async (request, reply) =>
      sendJson(reply, 200, await getTestClock(ctx, secretScope(request), idOf(request))),
    );
    app.post(
      "/test_clocks/:id/advance",
      {
        schema: {
          tags: ["billing"],
          params: IdParams,
          body: Type.Object({ frozen_time: FrozenTime }, { additionalProperties: false }),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const sent = await idempotentPost(services, request, reply, scope, (idem) =>
          write(scope, idem, 200, (tx) =>
            advanceTestClock(ctx, tx, scope, idOf(request), request.body as { frozen_time: string }),
          ),
        );
        // After the commit: the charges up to the new time run in the background.
        if (reply.statusCode === 200) kickTestClock(ctx, idOf(request));
        return sent;
      },
    );
  };
}
