import { recordInTransaction } from "../audit/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { IdempotencyContext } from "./gate.ts";
import { claimOpenKey, completeKey } from "./store.ts";

export interface StoredResult {
  statusCode: number;
  body: string;
  /** What to keep for replays when the body holds a secret shown only once. */
  storedBody?: string;
}

/**
 * Runs a mutation in its own transaction with its idempotency key claimed first: a concurrent
 * request with the same key waits on the key's row and then answers from the stored response.
 * A thrown error rolls everything back and stores nothing; a returned response is stored in the
 * same commit as the effects it describes.
 */
export async function idempotentTransaction(
  db: Db,
  clock: { nowMs(): number },
  scope: AuthScope | { merchantId: string; mode: string },
  idempotency: IdempotencyContext | undefined,
  work: (tx: Queryable, nowMs: number) => Promise<StoredResult>,
): Promise<{ statusCode: number; body: string }> {
  const nowMs = clock.nowMs();
  const recorded = await db.transaction(async (tx) => {
    if (idempotency) await claimOpenKey(tx, scope, idempotency, nowMs);
    const result = await work(tx, nowMs);
    if (idempotency) {
      await completeKey(tx, scope, idempotency.key, {
        statusCode: result.statusCode,
        body: result.storedBody ?? result.body,
      });
    }
    // The audit record of the request commits with its effects, or not at all.
    const audit = await recordInTransaction(tx, result, nowMs);
    return { response: { statusCode: result.statusCode, body: result.body }, audit };
  });
  if (recorded.audit) recorded.audit.recorded = true;
  return recorded.response;
}
