import type { FastifyReply, FastifyRequest } from "fastify";
import type { Db, Queryable } from "../db/db.ts";
import {
  claimOpenKey,
  completeKey,
  type IdempotencyContext,
  type IdempotencyGate,
  idempotentTransaction,
  releaseOpenKey,
} from "../idempotency/index.ts";
import type { Clock } from "../platform/clock.ts";
import { assert } from "../platform/errors.ts";
import { sendJson } from "./reply.ts";

/**
 * Every POST goes through one of these two helpers, so that none can forget its Idempotency-Key
 * (the bug they replace: two routes took the key and never stored it, so a retry ran again).
 *
 * - `transaction`: the write runs in its own transaction in which the key is claimed and the
 *   response stored. The handler never sees the key, so it cannot drop it.
 * - `claimFirst`: for work made of several transactions of its own (an MO STOP cancels each
 *   subscription in its own): the key is committed before the work and completed after; work
 *   that fails gives the key back.
 * - `flow`: for flows that claim the key themselves, deeper (payments, refunds, subscriptions:
 *   they commit the key with their attempt before calling a provider). The flow gets the key; the
 *   gate asserts afterwards that the flow read it, so a flow that ignores its key fails loudly in
 *   the first test that sends one instead of silently running twice.
 */
export interface Writes {
  transaction<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    options: {
      status: number;
      work: (tx: Queryable, nowMs: number) => Promise<T>;
      /** What a replay answers instead, when the body holds a secret shown only once. */
      replayBody?: (body: T) => unknown;
    },
  ): Promise<FastifyReply>;
  flow(
    request: FastifyRequest,
    reply: FastifyReply,
    execute: (idempotency: IdempotencyContext | undefined) => Promise<{ statusCode: number; body: string }>,
  ): Promise<FastifyReply>;
  /**
   * For work that runs transactions of its own (one per object it changes): the key is claimed
   * and committed first, the response stored after. A crash in between leaves the key answering
   * 409 until it expires: the work never runs twice.
   */
  claimFirst<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    options: { status: number; work: () => Promise<T> },
  ): Promise<FastifyReply>;
}

/** Idempotency keys of the admin key live in a scope of their own. */
const ADMIN_SCOPE = { merchantId: "admin", mode: "admin" } as const;

export function idempotencyScope(request: FastifyRequest): { merchantId: string; mode: string } {
  const auth = request.auth;
  assert(auth !== undefined && auth !== null, "writes need an authenticated surface");
  return auth.kind === "admin" ? ADMIN_SCOPE : { merchantId: auth.merchantId, mode: auth.mode };
}

/** Hands the flow its key and remembers whether the flow looked at it. */
function watched(context: IdempotencyContext): { context: IdempotencyContext; read(): boolean } {
  let read = false;
  const watchedContext = {
    get key() {
      read = true;
      return context.key;
    },
    requestHash: context.requestHash,
  };
  return { context: watchedContext, read: () => read };
}

export function createWrites(deps: { gate: IdempotencyGate; db: Db; clock: Clock }): Writes {
  const run = async (
    request: FastifyRequest,
    reply: FastifyReply,
    execute: (idempotency: IdempotencyContext | undefined) => Promise<{ statusCode: number; body: string }>,
  ) => {
    const response = await deps.gate.run(
      idempotencyScope(request),
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
  };

  return {
    transaction(request, reply, options) {
      const scope = idempotencyScope(request);
      return run(request, reply, (idempotency) =>
        idempotentTransaction(deps.db, deps.clock, scope, idempotency, async (tx, nowMs) => {
          const body = await options.work(tx, nowMs);
          const text = JSON.stringify(body);
          return options.replayBody
            ? { statusCode: options.status, body: text, storedBody: JSON.stringify(options.replayBody(body)) }
            : { statusCode: options.status, body: text };
        }),
      );
    },
    claimFirst(request, reply, options) {
      const scope = idempotencyScope(request);
      return run(request, reply, async (idempotency) => {
        if (idempotency) {
          await deps.db.transaction((tx) => claimOpenKey(tx, scope, idempotency, deps.clock.nowMs()));
        }
        let body: unknown;
        try {
          body = await options.work();
        } catch (error) {
          // Nothing to replay: a retry may run again (each step of the work is idempotent itself).
          if (idempotency) await releaseOpenKey(deps.db, scope, idempotency.key);
          throw error;
        }
        const response = { statusCode: options.status, body: JSON.stringify(body) };
        if (idempotency) await completeKey(deps.db, scope, idempotency.key, response);
        return response;
      });
    },
    flow(request, reply, execute) {
      return run(request, reply, async (idempotency) => {
        if (idempotency === undefined) return execute(undefined);
        const watch = watched(idempotency);
        const result = await execute(watch.context);
        assert(watch.read(), `${request.method} ${request.routeOptions.url} dropped its Idempotency-Key`);
        return result;
      });
    },
  };
}
