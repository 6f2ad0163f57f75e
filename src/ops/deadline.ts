import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isDatabaseUnavailable } from "../db/faults.ts";
import { ApiError } from "../platform/errors.ts";

const PROBES = new Set(["/health", "/ready", "/metrics"]);

/** How long a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 2;

export function serviceUnavailable(message: string): ApiError {
  return new ApiError("service_unavailable", undefined, message, {
    "Retry-After": String(RETRY_AFTER_SECONDS),
  });
}

/** A database that did not answer becomes a 503 with Retry-After; anything else is not ours. */
export function databaseFault(error: unknown): ApiError | null {
  if (!isDatabaseUnavailable(error)) return null;
  return serviceUnavailable(
    "The database did not answer; nothing was changed unless a retry with the same Idempotency-Key says so. Retry after the number of seconds in Retry-After.",
  );
}

/**
 * Every request is answered within `deadlineMs`, whatever the database does: when the work has
 * not replied by then, a 503 with Retry-After goes out and the work's own reply, if it ever comes,
 * is dropped. The work itself keeps its transaction semantics (it commits or rolls back whole), so
 * a retry with the same Idempotency-Key finds out which.
 */
export function installRequestDeadline(
  app: FastifyInstance,
  deadlineMs: number,
  send: (request: FastifyRequest, reply: FastifyReply, error: ApiError) => unknown,
  onExpired?: () => void,
): void {
  if (deadlineMs <= 0) return;
  const timers = new WeakMap<object, NodeJS.Timeout>();
  app.addHook("onRequest", (request, reply, done) => {
    // Probes answer within their own bound (/ready: a second) and say more than a 503 would.
    if (PROBES.has(request.url)) return done();
    const timer = setTimeout(() => {
      if (reply.sent) return;
      onExpired?.();
      const error = serviceUnavailable(
        `The request did not complete within ${deadlineMs} ms (the database is slow or unreachable). Retry with the same Idempotency-Key after the number of seconds in Retry-After.`,
      );
      send(request, reply, error);
    }, deadlineMs);
    timer.unref();
    timers.set(request, timer);
    done();
  });
  app.addHook("onResponse", (request, _reply, done) => {
    clearTimeout(timers.get(request));
    done();
  });
}
