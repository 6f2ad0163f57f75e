import type { Db } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import { IdempotencyConflict } from "./conflict.ts";
import { findIdempotencyRecord, requestHash, validateIdempotencyKey } from "./store.ts";

/** What a mutating request hands to its service: the key and the fingerprint of the request. */
export interface IdempotencyContext {
  key: string;
  requestHash: string;
}

export { IdempotencyConflict };

export interface Response {
  statusCode: number;
  body: string;
  replayed: boolean;
}

/**
 * Runs a mutating request at most once per key. Requests with a key in flight in this process
 * are answered 409 at once. Otherwise the request runs, and its commit claims the key in the same
 * transaction as its effects: when the key is already taken (a retry, or a concurrent request in
 * another process) the commit drops the request and it answers from the stored response instead.
 * There is no look-up before the request runs, so the first request with a key costs nothing
 * extra. That requires every flow to claim the key before anything leaves the process: in-process
 * providers decide inside the commit, remote ones commit the attempt (and the key) before calling.
 */
export class IdempotencyGate {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly clock: { nowMs(): number },
  ) {}

  async run(
    scope: { merchantId: string; mode: string },
    request: { method: string; path: string; body: unknown; header: string | string[] | undefined },
    execute: (idempotency: IdempotencyContext | undefined) => Promise<{ statusCode: number; body: string }>,
  ): Promise<Response> {
    const key = validateIdempotencyKey(request.header);
    if (key === undefined) return { ...(await execute(undefined)), replayed: false };
    const hash = requestHash(request.method, request.path, request.body);
    const slot = `${scope.merchantId}\u0000${scope.mode}\u0000${key}`;
    if (this.inFlight.has(slot)) throw new ApiError("idempotency_key_in_use", "Idempotency-Key");

    this.inFlight.add(slot);
    try {
      try {
        return { ...(await execute({ key, requestHash: hash })), replayed: false };
      } catch (error) {
        if (!(error instanceof IdempotencyConflict)) throw error;
        const winner = await this.replay(scope, key, hash);
        if (winner) return winner;
        throw new ApiError("idempotency_key_in_use", "Idempotency-Key");
      }
    } finally {
      this.inFlight.delete(slot);
    }
  }

  private async replay(
    scope: { merchantId: string; mode: string },
    key: string,
    hash: string,
  ): Promise<Response | null> {
    const stored = await findIdempotencyRecord(this.db, { ...scope, key }, this.clock.nowMs());
    if (!stored) return null;
    if (stored.requestHash !== hash) throw new ApiError("idempotency_key_reused", "Idempotency-Key");
    if (stored.statusCode === null || stored.responseBody === null) {
      throw new ApiError("idempotency_key_in_use", "Idempotency-Key");
    }
    return { statusCode: stored.statusCode, body: stored.responseBody, replayed: true };
  }
}
