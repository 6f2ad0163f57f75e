import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { idempotentTransaction } from "../../idempotency/transaction.ts";
import { presentMerchant } from "../../merchants/service.ts";
import { ApiError } from "../../platform/errors.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { idempotentPost, requireAdmin } from "../guards.ts";
import { Currency, IdParams } from "../schemas.ts";

const CreateMerchantBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }), default_currency: Type.Optional(Currency) },
  { additionalProperties: false },
);

/** Admin-only: merchants. The keys of a new merchant are shown once, in this response. */
export function adminRoutes(services: Services) {
  const adminScope = { merchantId: "admin", mode: "admin" };
  return async (app: FastifyInstance) => {
    app.post(
      "/merchants",
      { schema: { tags: ["admin"], body: CreateMerchantBody } },
      async (request, reply) => {
        requireAdmin(request);
        return idempotentPost(services, request, reply, adminScope, (idem) =>
          idempotentTransaction(services.db, services.clock, adminScope, idem, async (tx) => {
            const { merchant, keys } = await services.merchants.createMerchant(
              tx,
              request.body as { name: string; default_currency?: string },
            );
            const body = {
              merchant: presentMerchant(merchant),
              secret_key: keys.secret_test.key,
              publishable_key: keys.publishable_test.key,
              live_secret_key: keys.secret_live.key,
              live_publishable_key: keys.publishable_live.key,
            };
            // A replay must not hand out keys again: they are stored only as hashes.
            const stored = {
              ...body,
              secret_key: null,
              publishable_key: null,
              live_secret_key: null,
              live_publishable_key: null,
            };
            return { statusCode: 201, body: JSON.stringify(body), storedBody: JSON.stringify(stored) };
          }),
        );
      },
    );

    app.get("/merchants/:id", { schema: { tags: ["admin"], params: IdParams } }, async (request, reply) => {
      requireAdmin(request);
      const merchant = await services.merchants.getMerchant((request.params as { id: string }).id);
      if (!merchant) throw new ApiError("resource_missing", "id", "No such merchant.");
      return sendJson(reply, 200, presentMerchant(merchant));
    });
  };
}
