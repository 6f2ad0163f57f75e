import { Type } from "@sinclair/typebox";
import type { Queryable } from "../db/db.ts";
import {
  Currency,
  IdParams,
  Instant,
  ListQuery,
  listBody,
  listOf,
  Nullable,
  type Routes,
  StringEnum,
  sendJson,
} from "../http/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { restrictedKeyPermissions } from "../staff/index.ts";
import { type Merchants, presentKey, presentMerchant } from "./service.ts";

const CreateMerchantBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }), default_currency: Type.Optional(Currency) },
  { additionalProperties: false, examples: [{ name: "Pixel Forge Studio", default_currency: "EUR" }] },
);

const Merchant = Type.Object({
  id: Type.String({ examples: ["mer_01m8nf5vgabk0056mrnacrjb2b"] }),
  object: Type.Literal("merchant"),
  created: Instant,
  name: Type.String(),
  default_currency: Nullable(Type.String()),
});
const ShownOnce = (what: string) =>
  Nullable(Type.String({ description: `${what}: shown in this answer only (null on a replay).` }));
const CreatedMerchant = Type.Object({
  merchant: Merchant,
  secret_key: ShownOnce("The test-mode secret key (sk_test_…)"),
  publishable_key: ShownOnce("The test-mode publishable key (pk_test_…)"),
  live_secret_key: ShownOnce("The live-mode secret key (sk_live_…)"),
  live_publishable_key: ShownOnce("The live-mode publishable key (pk_live_…)"),
});

const ApiKey = Type.Object({
  id: Type.String({ examples: ["key_01m8nf5vhp51j2p354bgwdbgq1"] }),
  object: Type.Literal("api_key"),
  created: Instant,
  livemode: Type.Boolean(),
  type: StringEnum(["secret", "publishable"] as const),
  name: Nullable(Type.String()),
  redacted_key: Type.String({ examples: ["sk_test_…NGP6"] }),
  permissions: Nullable(Type.Array(Type.String(), { description: "A restricted key's permissions." })),
  expires_at: Nullable(Instant),
  revoked_at: Nullable(Instant),
  active: Type.Boolean(),
});
const IssuedKey = Type.Composite([
  ApiKey,
  Type.Object({
    secret: Nullable(
      Type.String({ description: "The key itself: shown in this answer only (null on a replay)." }),
    ),
  }),
]);
const RolledKey = Type.Composite([IssuedKey, Type.Object({ rolled_from: Type.String() })]);

/** Admin surface: merchants. The keys of a new merchant are shown once, in this response. */
export const merchantRoutes: Routes<Merchants> = async (app, merchants) => {
  app.post(
    "/merchants",
    {
      schema: {
        tags: ["admin"],
        operationId: "createMerchant",
        summary: "Create a merchant, with its keys (shown once)",
        body: CreateMerchantBody,
        response: { 201: CreatedMerchant },
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: async (tx) => {
          const { merchant, keys } = await merchants.createMerchant(tx, request.body);
          return {
            merchant: presentMerchant(merchant),
            secret_key: keys.secret_test.key as string | null,
            publishable_key: keys.publishable_test.key as string | null,
            live_secret_key: keys.secret_live.key as string | null,
            live_publishable_key: keys.publishable_live.key as string | null,
          };
        },
        // A replay must not hand out keys again: they are stored only as hashes.
        replayBody: (body) => ({
          ...body,
          secret_key: null,
          publishable_key: null,
          live_secret_key: null,
          live_publishable_key: null,
        }),
      }),
  );

  app.get(
    "/merchants/:id",
    {
      schema: {
        tags: ["admin"],
        operationId: "getMerchant",
        summary: "Retrieve a merchant",
        params: IdParams,
        response: { 200: Merchant },
      },
    },
    async (request, reply) => {
      const merchant = await merchants.getMerchant(request.params.id);
      if (!merchant) throw new ApiError("resource_missing", "id", "No such merchant.");
      return sendJson(reply, 200, presentMerchant(merchant));
    },
  );
};

const ROLL_GRACE_SECONDS_MAX = 7 * 24 * 3600;

const CreateKeyBody = Type.Object(
  {
    type: StringEnum(["secret", "publishable"] as const),
    name: Type.Optional(Type.String({ maxLength: 100 })),
    permissions: Type.Optional(
      Type.Array(Type.String({ maxLength: 64 }), {
        maxItems: 100,
        uniqueItems: true,
        description: "A restricted secret key: only these permissions (`group:action`).",
      }),
    ),
  },
  { additionalProperties: false },
);
const RollKeyBody = Type.Object(
  { expires_in: Type.Optional(Type.Integer({ minimum: 0, maximum: ROLL_GRACE_SECONDS_MAX })) },
  { additionalProperties: false },
);

/** Secret surface: a merchant's keys for the mode of the calling key: create, list, roll, revoke. */
export const apiKeyRoutes: Routes<{ merchants: Merchants; db: Queryable; clock: Clock }> = async (
  app,
  { merchants, db, clock },
) => {
  app.post(
    "/api_keys",
    {
      schema: {
        tags: ["api_keys"],
        operationId: "createApiKey",
        summary: "Create a secret or publishable key (shown once), restricted or not",
        body: CreateKeyBody,
        response: { 201: IssuedKey },
      },
    },
    async (request, reply) => {
      const { merchantId, mode } = request.scope;
      const permissions = restrictedKeyPermissions(request.access, request.body);
      return app.writes.transaction(request, reply, {
        status: 201,
        work: async (tx, nowMs) => {
          const issued = await merchants.createKey(
            tx,
            merchantId,
            mode,
            request.body.type,
            request.body.name ?? null,
            permissions,
          );
          return { ...presentKey(issued.row, nowMs), secret: issued.key as string | null };
        },
        replayBody: (shown) => ({ ...shown, secret: null }),
      });
    },
  );

  app.get(
    "/api_keys",
    {
      schema: {
        tags: ["api_keys"],
        operationId: "listApiKeys",
        summary: "List the keys of the calling key's mode, newest first",
        querystring: ListQuery,
        response: { 200: listOf(ApiKey) },
      },
    },
    async (request, reply) => {
      const nowMs = clock.nowMs();
      const page = await merchants.keyPage(request.scope.merchantId, request.scope.mode, request.query);
      return sendJson(
        reply,
        200,
        listBody(
          page.rows.map((r) => presentKey(r, nowMs)),
          page.hasMore,
        ),
      );
    },
  );

  app.get(
    "/api_keys/:id",
    {
      schema: {
        tags: ["api_keys"],
        operationId: "getApiKey",
        summary: "Retrieve a key (redacted)",
        params: IdParams,
        response: { 200: ApiKey },
      },
    },
    async (request, reply) => {
      const row = await merchants.getKey(request.scope.merchantId, request.scope.mode, request.params.id);
      if (!row) throw new ApiError("resource_missing", "id", "No such API key.");
      return sendJson(reply, 200, presentKey(row, clock.nowMs()));
    },
  );

  app.post(
    "/api_keys/:id/roll",
    {
      schema: {
        tags: ["api_keys"],
        operationId: "rollApiKey",
        summary: "Replace a key by a new one; the old one works for expires_in seconds more",
        params: IdParams,
        body: RollKeyBody,
        response: { 201: RolledKey },
      },
    },
    async (request, reply) => {
      const { merchantId, mode } = request.scope;
      const id = request.params.id;
      const graceMs = (request.body.expires_in ?? 0) * 1000;
      return app.writes.transaction(request, reply, {
        status: 201,
        work: async (tx, nowMs) => {
          const issued = await merchants.rollKey(tx, merchantId, mode, id, graceMs);
          if (!issued) throw new ApiError("resource_missing", "id", "No such active API key.");
          return { ...presentKey(issued.row, nowMs), secret: issued.key as string | null, rolled_from: id };
        },
        replayBody: (shown) => ({ ...shown, secret: null }),
      });
    },
  );

  app.delete(
    "/api_keys/:id",
    {
      schema: {
        tags: ["api_keys"],
        operationId: "revokeApiKey",
        summary: "Revoke a key now",
        params: IdParams,
        response: { 200: ApiKey },
      },
    },
    async (request, reply) => {
      const row = await merchants.revokeKey(
        db,
        request.scope.merchantId,
        request.scope.mode,
        request.params.id,
      );
      if (!row) throw new ApiError("resource_missing", "id", "No such API key.");
      return sendJson(reply, 200, presentKey(row, clock.nowMs()));
    },
  );
};
