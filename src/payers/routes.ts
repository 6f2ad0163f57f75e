import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyPluginAsync } from "fastify";
import { addRateLimitHeaders, type PageRateLimiter } from "../web/index.ts";
import { authenticatePayer } from "./accounts.ts";
import type { Payers } from "./index.ts";
import { accountRoutes } from "./routes-accounts.ts";
import { rateLimited } from "./routes-helpers.ts";
import { selfCareRoutes } from "./routes-self-care.ts";

export { messageCatcherRoutes, refundRequestRoutes } from "./routes-merchant.ts";

/**
 * The payers' API under /v1: sign-up and sign-in without a key, then everything under
 * `/v1/payer/` with `Authorization: Bearer <payer token>`. Its own surface: merchant keys mean
 * nothing here, and payer tokens mean nothing on the merchants' surfaces.
 *
 * `rateLimit`: requests per client address, counted before anything else (a bad token too), with
 * the IETF RateLimit fields on every answer and 429 + Retry-After past it.
 */
export function payerApi(payers: Payers, options: { rateLimit?: PageRateLimiter } = {}): FastifyPluginAsync {
  const limiter = options.rateLimit;
  return async (root) => {
    await root.register(
      async (plain) => {
        if (limiter?.enabled)
          plain.addHook("onRequest", async (request, reply) => {
            const take = limiter.take(`ip:${request.ip}`, payers.ctx.clock.nowMs());
            addRateLimitHeaders(reply, limiter.policyHeader, limiter.stateHeader(take));
            if (!take.allowed) throw rateLimited(take.retryAfterSeconds);
          });
        plain.addHook("onRequest", async (request) => {
          const url = request.routeOptions.url ?? "";
          if (url.startsWith("/v1/payer/"))
            request.payer = await authenticatePayer(payers.ctx, request.headers.authorization);
        });
        plain.addHook("preValidation", async (request) => {
          if (request.method === "POST" && request.body === undefined) request.body = {};
        });
        const api = plain.withTypeProvider<TypeBoxTypeProvider>();
        await accountRoutes(api, payers);
        await selfCareRoutes(api, payers);
      },
      { prefix: "/v1" },
    );
  };
}
