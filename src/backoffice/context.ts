import type { FastifyReply, FastifyRequest } from "fastify";
import type { Approvals } from "../approvals/index.ts";
import type { RequestAudit } from "../audit/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import type { IdempotencyContext } from "../idempotency/index.ts";
import { idempotentTransaction, type StoredResult } from "../idempotency/index.ts";
import type { Services } from "../services.ts";
import type { Access } from "../staff/index.ts";

declare module "fastify" {
  interface FastifyRequest {
    access: Access;
    audit: RequestAudit | undefined;
  }
}

/** What the back office needs from the platform's services. */
export type BackOfficeServices = Pick<
  Services,
  | "db"
  | "readDb"
  | "clock"
  | "merchants"
  | "idempotency"
  | "ledger"
  | "payments"
  | "config"
  | "logger"
  | "community"
> & { staff: import("../staff/index.ts").StaffDirectory; approvals: Approvals };

/** What the customer, subscription and catalog screens read and act through (the API's own services). */
export type ScreenServices = Pick<Services, "db" | "clock" | "customers" | "billing" | "community">;

export function sendJson(reply: FastifyReply, statusCode: number, body: unknown): FastifyReply {
  return reply
    .code(statusCode)
    .type("application/json; charset=utf-8")
    .send(typeof body === "string" ? body : JSON.stringify(body));
}

/** The idempotency scope of the caller: its merchant and mode, or the platform's. */
export function idempotencyScope(access: Access): { merchantId: string; mode: string } {
  return { merchantId: access.actor.merchantId ?? "admin", mode: access.actor.mode ?? "admin" };
}

type WriteServices = { db: Db; clock: { nowMs(): number }; idempotency: Services["idempotency"] };

/** A POST run once per Idempotency-Key, in one transaction with its audit record. */
export async function idempotentWrite(
  services: WriteServices,
  request: FastifyRequest,
  reply: FastifyReply,
  work: (tx: Queryable, nowMs: number) => Promise<StoredResult>,
): Promise<FastifyReply> {
  const response = await runIdempotent(services, request, work);
  if (response.replayed) reply.header("Idempotent-Replayed", "true");
  return sendJson(reply, response.statusCode, response.body);
}

/**
 * A decision committed with its key, then work with commits of its own (an approved refund, a
 * held payment's charge), run once: the response is what the work gives; a replay answers what
 * was stored with the decision. A crash in between is left to what settles that work.
 */
export async function decideThenRun<T>(
  services: WriteServices,
  request: FastifyRequest,
  reply: FastifyReply,
  decide: (tx: Queryable, nowMs: number) => Promise<{ decided: T; stored: unknown }>,
  run: (decided: T) => Promise<unknown>,
): Promise<FastifyReply> {
  // Set inside the callback: the cast keeps TypeScript from narrowing it to null for good.
  let decided = null as { value: T } | null;
  const response = await runIdempotent(services, request, async (tx, nowMs) => {
    const outcome = await decide(tx, nowMs);
    decided = { value: outcome.decided };
    return { statusCode: 200, body: JSON.stringify(outcome.stored) };
  });
  if (decided) return sendJson(reply, 200, await run(decided.value));
  if (response.replayed) reply.header("Idempotent-Replayed", "true");
  return sendJson(reply, response.statusCode, response.body);
}

export function runIdempotent(
  services: WriteServices,
  request: FastifyRequest,
  work: (tx: Queryable, nowMs: number) => Promise<StoredResult>,
) {
  const scope = idempotencyScope(request.access);
  return services.idempotency.run(
    scope,
    {
      method: request.method,
      path: request.url.split("?")[0]!,
      body: request.body,
      header: request.headers["idempotency-key"],
    },
    (idempotency: IdempotencyContext | undefined) =>
      idempotentTransaction(services.db, services.clock, scope, idempotency, work),
  );
}
