import type { FastifyReply, FastifyRequest } from "fastify";
import type { IdempotencyContext } from "../idempotency/gate.ts";
import { ApiError } from "../platform/errors.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { Services } from "../services.ts";
import { sendJson } from "./app.ts";

/** A merchant's secret key; publishable keys may only start checkouts. */
export function secretScope(request: FastifyRequest): AuthScope {
  const auth = request.auth;
  if (auth.kind !== "merchant")
    throw new ApiError("secret_key_required", undefined, "Use a merchant's secret key for this request.");
  if (auth.keyType !== "secret") throw new ApiError("secret_key_required");
  return { merchantId: auth.merchantId, mode: auth.mode };
}

export function requireAdmin(request: FastifyRequest): void {
  if (request.auth.kind !== "admin") throw new ApiError("admin_key_required");
}

/** Runs a POST through the idempotency gate and sends its response. */
export async function idempotentPost(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
  scope: { merchantId: string; mode: string },
  execute: (idempotency: IdempotencyContext | undefined) => Promise<{ statusCode: number; body: string }>,
): Promise<FastifyReply> {
  const response = await services.idempotency.run(
    scope,
    {
      method: request.method,
      path: request.url.split("?")[0]!,
      body: request.body,
      header: request.headers["idempotency-key"],
    },
    execute,
  );
  if (response.replayed) reply.header("Idempotent-Replayed", "true");
  return sendJson(reply, response.statusCode, response.body);
}
