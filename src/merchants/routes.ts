import { Type } from "@sinclair/typebox";
import type { Queryable } from "../db/db.ts";
import { Currency, IdParams, listBody, type Routes, StringEnum, sendJson } from "../http/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { type Merchants, presentKey, presentMerchant } from "./service.ts";

const CreateMerchantBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }), default_currency: Type.Optional(Currency) },
  { additionalProperties: false },
);

/** Admin surface: merchants. The keys of a new merchant are shown once, in this response. */
export const merchantRoutes: Routes<Merchants> = async (app, merchants) => {
  app.post("/merchants", { schema: { tags: ["admin"], body: CreateMerchantBody } }, async (request, reply) =>
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

  app.get("/merchants/:id", { schema: { tags: ["admin"], params: IdParams } }, async (request, reply) => {
    const merchant = await merchants.getMerchant(request.params.id);
    if (!merchant) throw new ApiError("resource_missing", "id", "No such merchant.");
    return sendJson(reply, 200, presentMerchant(merchant));
  });
};

const ROLL_GRACE_SECONDS_MAX = 7 * 24 * 3600;

const CreateKeyBody = Type.Object(
  {
    type: StringEnum(["secret", "publishable"] as const),
    name: Type.Optional(Type.String({ maxLength: 100 })),
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
  app.post("/api_keys", { schema: { tags: ["api_keys"], body: CreateKeyBody } }, async (request, reply) => {
    const { merchantId, mode } = request.scope;
    return app.writes.transaction(request, reply, {
      status: 201,
      work: async (tx, nowMs) => {
        const issued = await merchants.createKey(
          tx,
          merchantId,
          mode,
          request.body.type,
          request.body.name ?? null,
        );
        return { ...presentKey(issued.row, nowMs), secret: issued.key as string | null };
      },
      replayBody: (shown) => ({ ...shown, secret: null }),
    });
  });

  app.get("/api_keys", { schema: { tags: ["api_keys"] } }, async (request, reply) => {
    const nowMs = clock.nowMs();
    const rows = await merchants.listKeys(request.scope.merchantId, request.scope.mode);
    return sendJson(
      reply,
      200,
      listBody(
        rows.map((r) => presentKey(r, nowMs)),
        false,
      ),
    );
  });

  app.get("/api_keys/:id", { schema: { tags: ["api_keys"], params: IdParams } }, async (request, reply) => {
    const row = await merchants.getKey(request.scope.merchantId, request.scope.mode, request.params.id);
    if (!row) throw new ApiError("resource_missing", "id", "No such API key.");
    return sendJson(reply, 200, presentKey(row, clock.nowMs()));
  });

  app.post(
    "/api_keys/:id/roll",
    { schema: { tags: ["api_keys"], params: IdParams, body: RollKeyBody } },
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
    { schema: { tags: ["api_keys"], params: IdParams } },
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
