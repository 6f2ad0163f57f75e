/** What the payers' route files share: the payer of a request, idempotent payer writes, throttle fields. */
import { createHmac } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { sendJson } from "../http/index.ts";
import { claimOpenKey, completeKey, type IdempotencyContext, releaseOpenKey } from "../idempotency/index.ts";
import { ApiError } from "../platform/errors.ts";
import { addRateLimitHeaders } from "../web/index.ts";
import { identityOf } from "./accounts.ts";
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

type KeyScope = { merchantId: string; mode: string };

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
  const result = await runOnce(payers, payerKeyScope(request), request, reply, work);
  return sendJson(reply, result.status, result.body);
}

/** The Idempotency-Keys of a signed-in payer's requests are the payer's own. */
export function payerKeyScope(request: FastifyRequest): KeyScope {
  return { merchantId: payerOf(request).payerId, mode: "payer" };
}

/**
 * The scope of the Idempotency-Keys of the routes without any key or token (sign-up, sign-in
 * codes): there is no merchant or payer to scope them to, so they are scoped to the identity the
 * body names (the normalised e-mail address or number; mode `payer-public`, which no merchant or
 * payer scope uses). Why not one scope for everyone: two apps' users sending the same predictable
 * key ("signup") would get each other's 422s. Why not the client's address: a phone that moves
 * from Wi-Fi to its carrier between a request and its retry would run the request again (a second
 * sign-up answers 409, a second code request sends a new code). A replay needs the same body
 * (hash), so it answers only a caller who already sent that e-mail and password or that number,
 * and what it answers holds no secret (a payer without its password; a code request's masked
 * recipient, not the code). A body whose identity does not parse fails its work anyway (400, the
 * key released).
 */
export function publicKeyScope(identity: {
  msisdn?: string | undefined;
  email?: string | undefined;
}): KeyScope {
  let subject = "unparsed";
  try {
    const parsed = identityOf(identity);
    subject = `${parsed.kind}:${parsed.value}`;
  } catch {
    // The work refuses the body with the 400 naming the field; nothing is stored under the key.
  }
  return { merchantId: subject, mode: "payer-public" };
}

/**
 * A sign-up's body as its key's fingerprint: the password keyed (HMAC under the codes' key), not
 * as sent. The stored fingerprint is a plain SHA-256 of the body, which anyone reading the table
 * could test guessed passwords against at billions a second, beside the scrypt hash made to stop
 * exactly that.
 */
export function signUpFingerprint(payers: Payers, body: { email: string; password: string }): unknown {
  const password = createHmac("sha256", payers.ctx.codeKey).update(`signup:${body.password}`).digest("hex");
  return { ...body, password };
}

/**
 * Runs `work` at most once per Idempotency-Key in `scope`: the key is claimed (committed) before
 * the work and the answer stored after it; work that fails gives the key back (nothing to replay).
 * A retry with the same body answers the stored status and body with `Idempotent-Replayed: true`,
 * a different body 422 `idempotency_key_reused`. Without a key the work runs as asked.
 */
export async function runOnce(
  payers: Payers,
  scope: KeyScope,
  request: FastifyRequest,
  reply: FastifyReply,
  work: () => Promise<{ status: number; body: unknown }>,
  /** What the request's fingerprint is computed from, when not the body as sent. */
  fingerprint: unknown = request.body,
): Promise<{ status: number; body: unknown }> {
  const { db, clock } = payers.ctx;
  const response = await payers.gate.run(
    scope,
    {
      method: request.method,
      path: request.url.split("?")[0]!,
      body: fingerprint,
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
  return { status: response.statusCode, body: response.body };
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
