import type { FastifyReply } from "fastify";

/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-08) on pages: a response
 * may answer to several policies at once (per address, per number), so each policy is appended
 * to the fields as one more list member rather than replacing the others.
 */
export function addRateLimitHeaders(reply: FastifyReply, policy: string, state: string): void {
  for (const [name, value] of [
    ["RateLimit-Policy", policy],
    ["RateLimit", state],
  ] as const) {
    const before = reply.getHeader(name);
    reply.header(name, before ? `${String(before)}, ${value}` : value);
  }
}

/** A token bucket per subject, as src/http/rate-limit.ts keeps them (structurally). */
export interface PageRateLimiter {
  readonly enabled: boolean;
  readonly policyHeader: string;
  take(
    subject: string,
    nowMs: number,
  ): { allowed: boolean; remaining: number; resetSeconds: number; retryAfterSeconds: number };
  stateHeader(take: { remaining: number; resetSeconds: number }): string;
}
