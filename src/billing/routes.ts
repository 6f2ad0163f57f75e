import { listPage } from "../db/pages.ts";
import { IdParams, ListQuery, listBody, listOf, type Routes, sendJson } from "../http/index.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { advanceTestClock, createTestClock, getTestClock, kickTestClock, listTestClocks } from "./clocks.ts";
import type { Billing } from "./index.ts";
import { DEFAULT_DUNNING_POLICY, type DunningPolicy, policyProblem } from "./policy.ts";
import {
  AdvanceTestClockBody,
  CancelBody,
  CreateTestClockBody,
  DunningPolicyObject,
  EmptyBody,
  MoMessage,
  MoMessageBody,
  PinBody,
  PolicyBody,
  Price,
  PriceBody,
  PricesQuery,
  PriceUpdateBody,
  Product,
  ProductBody,
  ProductsQuery,
  ProductUpdateBody,
  Subscription,
  SubscriptionsQuery,
  subscriptionBody,
  TestClock,
} from "./routes-schemas.ts";
import {
  cancelSubscription,
  confirmSubscription,
  createSubscription,
  getSubscription,
  handleMoMessage,
  listSubscriptions,
  setPaused,
} from "./subscriptions.ts";

const tags = ["billing"];

/** Catalog, subscriptions, dunning policies, MO messages and test clocks (secret-key surface). */
export const billingRoutes: Routes<Billing> = async (app, { context: ctx, catalog }) => {
  const SubscriptionBody = subscriptionBody(ctx.providers.methodSchema("subscription"));
  // Catalog ---------------------------------------------------------------------------------
  app.post(
    "/products",
    {
      schema: {
        tags,
        operationId: "createProduct",
        summary: "Create a product (or a variant of one)",
        body: ProductBody,
        response: { 201: Product },
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx) => catalog.createProduct(tx, request.scope, request.body),
      }),
  );
  app.get(
    "/products",
    {
      schema: {
        tags,
        operationId: "listProducts",
        summary: "List products",
        querystring: ProductsQuery,
        response: { 200: listOf(Product) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = await catalog.listProducts(request.scope, { parent: q.parent, active: q.active }, q);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/products/:id",
    {
      schema: {
        tags,
        operationId: "getProduct",
        summary: "Retrieve a product",
        params: IdParams,
        response: { 200: Product },
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await catalog.getProduct(request.scope, request.params.id)),
  );
  app.post(
    "/products/:id",
    {
      schema: {
        tags,
        operationId: "updateProduct",
        summary: "Update a product",
        params: IdParams,
        body: ProductUpdateBody,
        response: { 200: Product },
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 200,
        work: (tx) => catalog.updateProduct(tx, request.scope, request.params.id, request.body),
      }),
  );

  app.post(
    "/prices",
    {
      schema: {
        tags,
        operationId: "createPrice",
        summary: "Create a price: one-time or recurring, per currency and country",
        body: PriceBody,
        response: { 201: Price },
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx) => catalog.createPrice(tx, request.scope, request.body),
      }),
  );
  app.get(
    "/prices",
    {
      schema: {
        tags,
        operationId: "listPrices",
        summary: "List prices",
        querystring: PricesQuery,
        response: { 200: listOf(Price) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const filters = { product: q.product, currency: q.currency, country: q.country, active: q.active };
      const page = await catalog.listPrices(request.scope, filters, q);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/prices/:id",
    {
      schema: {
        tags,
        operationId: "getPrice",
        summary: "Retrieve a price",
        params: IdParams,
        response: { 200: Price },
      },
    },
    async (request, reply) => sendJson(reply, 200, await catalog.getPrice(request.scope, request.params.id)),
  );
  app.post(
    "/prices/:id",
    {
      schema: {
        tags,
        operationId: "updatePrice",
        summary: "Update a price (activate, deactivate, metadata)",
        params: IdParams,
        body: PriceUpdateBody,
        response: { 200: Price },
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 200,
        work: (tx) => catalog.updatePrice(tx, request.scope, request.params.id, request.body),
      }),
  );

  // Subscriptions ---------------------------------------------------------------------------
  app.post(
    "/subscriptions",
    {
      schema: {
        tags,
        operationId: "createSubscription",
        summary: "Subscribe a customer to a recurring price, with their consent",
        body: SubscriptionBody,
        response: { 201: Subscription },
      },
    },
    async (request, reply) =>
      app.writes.flow(request, reply, (idem) => createSubscription(ctx, request.scope, request.body, idem)),
  );
  app.get(
    "/subscriptions",
    {
      schema: {
        tags,
        operationId: "listSubscriptions",
        summary: "List subscriptions",
        querystring: SubscriptionsQuery,
        response: { 200: listOf(Subscription) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const filters = { customer: q.customer, price: q.price, status: q.status, test_clock: q.test_clock };
      const page = await listSubscriptions(ctx, request.scope, filters, q);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/subscriptions/:id",
    {
      schema: {
        tags,
        operationId: "getSubscription",
        summary: "Retrieve a subscription",
        params: IdParams,
        response: { 200: Subscription },
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await getSubscription(ctx, request.scope, request.params.id)),
  );
  app.post(
    "/subscriptions/:id/confirm",
    {
      schema: {
        tags,
        operationId: "confirmSubscription",
        summary: "Confirm a subscription with the PIN the subscriber received (double opt-in)",
        params: IdParams,
        body: PinBody,
        response: { 200: Subscription },
        "x-errors": [402],
      },
    },
    async (request, reply) =>
      app.writes.flow(request, reply, (idem) =>
        confirmSubscription(ctx, request.scope, request.params.id, request.body, idem),
      ),
  );
  app.post(
    "/subscriptions/:id/cancel",
    {
      schema: {
        tags,
        operationId: "cancelSubscription",
        summary: "Cancel a subscription now",
        params: IdParams,
        body: CancelBody,
        response: { 200: Subscription },
      },
    },
    async (request, reply) =>
      app.writes.flow(request, reply, (idem) =>
        cancelSubscription(ctx, request.scope, request.params.id, request.body.reason ?? "requested", idem),
      ),
  );
  for (const [path, paused] of [
    ["pause", true],
    ["resume", false],
  ] as const) {
    app.post(
      `/subscriptions/:id/${path}`,
      {
        schema: {
          tags,
          operationId: paused ? "pauseSubscription" : "resumeSubscription",
          summary: paused ? "Pause a subscription: no charges until resumed" : "Resume a paused subscription",
          params: IdParams,
          body: EmptyBody,
          response: { 200: Subscription },
        },
      },
      async (request, reply) =>
        app.writes.flow(request, reply, (idem) =>
          setPaused(ctx, request.scope, request.params.id, paused, idem),
        ),
    );
  }

  // An inbound MO (from a connector, or simulated in test mode): STOP cancels. Each
  // cancellation is its own transaction, so the key is claimed first.
  app.post(
    "/mo_messages",
    {
      schema: {
        tags,
        operationId: "createMoMessage",
        summary: "Hand in a message a subscriber sent (STOP cancels their subscriptions)",
        body: MoMessageBody,
        response: { 200: MoMessage },
      },
    },
    async (request, reply) =>
      app.writes.claimFirst(request, reply, {
        status: 200,
        work: async () => {
          const result = await handleMoMessage(ctx, request.scope, request.body);
          return {
            object: "mo_message",
            msisdn: request.body.msisdn,
            text: request.body.text,
            stop: result.stop,
            canceled_subscriptions: result.canceled,
          };
        },
      }),
  );

  // Dunning policies -------------------------------------------------------------------------
  app.post(
    "/dunning_policies",
    {
      schema: {
        tags,
        operationId: "setDunningPolicy",
        summary: "Set the dunning policy (retries after a failed renewal), for all operators or one",
        body: PolicyBody,
        response: { 200: DunningPolicyObject },
      },
    },
    async (request, reply) => {
      const { merchantId, mode } = request.scope;
      const { operator, ...fields } = request.body;
      const policy: DunningPolicy = { ...DEFAULT_DUNNING_POLICY, ...fields };
      const problem = policyProblem(policy);
      if (problem) throw new ApiError("parameter_invalid", problem[0], `${problem[0]} ${problem[1]}.`);
      const sent = await app.writes.transaction(request, reply, {
        status: 200,
        work: async (tx, nowMs) => {
          const { rows } = await tx.query<{ id: string; created: Date }>(
            `insert into dunning_policies (id, merchant_id, mode, operator, policy, created, updated)
           values ($1, $2, $3, $4, $5, $6, $6)
           on conflict (merchant_id, mode, operator) do update set policy = excluded.policy, updated = excluded.updated
           returning id, created`,
            [newId("dpol", nowMs), merchantId, mode, operator ?? "", JSON.stringify(policy), new Date(nowMs)],
          );
          const row = rows[0]!;
          return {
            id: row.id,
            object: "dunning_policy",
            created: iso(row.created.getTime()),
            operator: operator ?? null,
            ...policy,
          };
        },
      });
      ctx.caches.forgetPolicies(merchantId);
      return sent;
    },
  );
  app.get(
    "/dunning_policies",
    {
      schema: {
        tags,
        operationId: "listDunningPolicies",
        summary: "List dunning policies, newest first",
        querystring: ListQuery,
        response: { 200: listOf(DunningPolicyObject) },
      },
    },
    async (request, reply) => {
      const page = await listPage<{ id: string; operator: string; policy: DunningPolicy; created: Date }>(
        ctx.db,
        "dunning_policies",
        ["merchant_id = $1", "mode = $2"],
        [request.scope.merchantId, request.scope.mode],
        request.query,
      );
      const policies = page.rows.map((r) => ({
        id: r.id,
        object: "dunning_policy",
        created: iso(r.created.getTime()),
        operator: r.operator === "" ? null : r.operator,
        ...r.policy,
      }));
      return sendJson(reply, 200, listBody(policies, page.hasMore));
    },
  );

  // Test clocks -------------------------------------------------------------------------------
  app.post(
    "/test_clocks",
    {
      schema: {
        tags,
        operationId: "createTestClock",
        summary: "Create a test clock (test mode): customers on it live at its time",
        body: CreateTestClockBody,
        response: { 201: TestClock },
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx) => createTestClock(ctx, tx, request.scope, request.body),
      }),
  );
  app.get(
    "/test_clocks",
    {
      schema: {
        tags,
        operationId: "listTestClocks",
        summary: "List test clocks",
        querystring: ListQuery,
        response: { 200: listOf(TestClock) },
      },
    },
    async (request, reply) => {
      const page = await listTestClocks(ctx, request.scope, request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/test_clocks/:id",
    {
      schema: {
        tags,
        operationId: "getTestClock",
        summary: "Retrieve a test clock",
        params: IdParams,
        response: { 200: TestClock },
      },
    },
    async (request, reply) => sendJson(reply, 200, await getTestClock(ctx, request.scope, request.params.id)),
  );
  app.post(
    "/test_clocks/:id/advance",
    {
      schema: {
        tags,
        operationId: "advanceTestClock",
        summary: "Move a test clock forward: renewals up to the new time run",
        params: IdParams,
        body: AdvanceTestClockBody,
        response: { 200: TestClock },
      },
    },
    async (request, reply) => {
      const sent = await app.writes.transaction(request, reply, {
        status: 200,
        work: (tx) => advanceTestClock(ctx, tx, request.scope, request.params.id, request.body),
      });
      // After the commit: the charges up to the new time run in the background.
      if (reply.statusCode === 200) kickTestClock(ctx, request.params.id);
      return sent;
    },
  );
};
