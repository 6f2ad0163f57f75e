/** What the payers' route files share: the payer of a request, idempotent payer writes, throttle fields. */
import type { FastifyReply, FastifyRequest } from "fastify";
import { sendJson } from "../http/index.ts";
import { claimOpenKey, completeKey, type IdempotencyContext, releaseOpenKey } from "../idempotency/index.ts";
import { ApiError } from "../platform/errors.ts";
import { addRateLimitHeaders } from "../web/index.ts";
import type { PayerAuth } from "./context.ts";
import type { Payers } from "./index.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The payer of a verified access token (payer routes only). */
    payer?: PayerAuth;
  }
  interface FastifyContextConfig {
    /** A payer route: payer tokens, not merchant keys (outside the merchants' permission catalogue). */
    payer?: boolean;
  }
}

export const tags = ["payers"];
export const payerConfig = { payer: true } as const;
export const security = [{ bearer: [] }];

export function payerOf(request: FastifyRequest): PayerAuth {
  if (!request.payer) throw new ApiError("payer_token_invalid");
  return request.payer;
}

/**
 * A payer's POST with an Idempotency-Key: the key (scoped to the payer) is claimed before the work
 * and the answer stored after it, so a retry replays; without a key the work runs as asked (each
 * payer write is idempotent in itself: one refund request per payment, cancel once).
 */
export async function payerWrite(
  payers: Payers,
  request: FastifyRequest,
  reply: FastifyReply,
  work: () => Promise<{ status: number; body: unknown }>,
) {
  const auth = payerOf(request);
  const scope = { merchantId: auth.payerId, mode: "payer" };
  const { db, clock } = payers.ctx;
  const response = await payers.gate.run(
    scope,
    {
      method: request.method,
      path: request.url.split("?")[0]!,
      body: request.body,
      header: request.headers["idempotency-key"],
    },
    async (idempotency: IdempotencyContext | undefined) => {
      if (idempotency) await db.transaction((tx) => claimOpenKey(tx, scope, idempotency, clock.nowMs()));
      let result: { status: number; body: unknown };
      try {
        result = await work();
      } catch (error) {
        if (idempotency) await releaseOpenKey(db, scope, idempotency.key);
        throw error;
      }
      const answer = { statusCode: result.status, body: JSON.stringify(result.body) };
      if (idempotency) await completeKey(db, scope, idempotency.key, answer);
      return answer;
    },
  );
  if (response.replayed) reply.header("Idempotent-Replayed", "true");
  return sendJson(reply, response.statusCode, response.body);
}

export function rateLimited(retryAfterSeconds: number): ApiError {
  return new ApiError("rate_limited", undefined, undefined, { "Retry-After": String(retryAfterSeconds) });
}

/**
 * Runs a sign-up or sign-in edge's work and, whatever its outcome, appends its throttles to the
 * RateLimit fields (read after the work: what is left for the next request).
 */
export async function withThrottleFields(
  reply: FastifyReply,
  fields: () => { policy: string; state: string }[],
  work: () => Promise<{ status: number; body: unknown }>,
): Promise<FastifyReply> {
  const add = () => {
    for (const field of fields()) addRateLimitHeaders(reply, field.policy, field.state);
  };
  let result: { status: number; body: unknown };
  try {
    result = await work();
  } catch (error) {
    add();
    throw error;
  }
  add();
  return sendJson(reply, result.status, result.body);
}
