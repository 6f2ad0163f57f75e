import { hash } from "node:crypto";
import type { Queryable } from "../db/db.ts";
import { prunablePartitions } from "../db/partitions.ts";
import { canonicalJson } from "../platform/canonical-json.ts";
import { ApiError } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import { IdempotencyConflict } from "./conflict.ts";

/**
 * Idempotency keys, with the semantics merchants know from Stripe: the first request with a key
 * runs once; a retry with the same request gets the stored response (`Idempotent-Replayed: true`);
 * the same key with a different request is refused (422); a retry while the first still runs gets
 * 409. Keys are scoped per merchant and mode and kept for 24 hours.
 *
 * The record is written in the same transaction as the effect it describes, so a crash either
 * keeps both or neither: a retry after a crash never runs a committed request twice.
 */
export interface IdempotencyRecord {
  merchantId: string;
  mode: string;
  key: string;
  requestHash: string;
  /** Null while the request's outcome is not known yet (a remote provider is being asked). */
  statusCode: number | null;
  responseBody: string | null;
  createdMs: number;
  /** The object whose response this record will hold once it settles. */
  resourceId?: string;
}

export interface StoredResponse {
  requestHash: string;
  statusCode: number | null;
  responseBody: string | null;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

export function validateIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (
    Array.isArray(value) ||
    value.length === 0 ||
    value.length > LIMITS.idempotency_key_length_max ||
    !PRINTABLE_ASCII.test(value)
  ) {
    throw new ApiError("idempotency_key_invalid", "Idempotency-Key");
  }
  return value;
}

export function requestHash(method: string, path: string, body: unknown): string {
  return hash("sha256", `${method} ${path}\n${canonicalJson(body ?? {})}`);
}

export function idempotencyRowJson(record: IdempotencyRecord): Record<string, unknown> {
  return {
    merchant_id: record.merchantId,
    mode: record.mode,
    key: record.key,
    request_hash: record.requestHash,
    status_code: record.statusCode,
    response_body: record.responseBody,
    created: new Date(record.createdMs).toISOString(),
    expires_at: new Date(record.createdMs + LIMITS.idempotency_retention_ms).toISOString(),
    resource_id: record.resourceId ?? null,
  };
}

export async function findIdempotencyRecord(
  q: Queryable,
  scope: { merchantId: string; mode: string; key: string },
  nowMs: number,
): Promise<StoredResponse | null> {
  const { rows } = await q.query<{
    request_hash: string;
    status_code: number | null;
    response_body: string | null;
  }>(
    `select request_hash, status_code, response_body from idempotency_keys
     where merchant_id = $1 and mode = $2 and key = $3 and expires_at > $4`,
    [scope.merchantId, scope.mode, scope.key, new Date(nowMs)],
  );
  const row = rows[0];
  return row
    ? { requestHash: row.request_hash, statusCode: row.status_code, responseBody: row.response_body }
    : null;
}

/**
 * Claims keys given as a JSON array of rows (parameter `param`) and returns the rows it claimed.
 * The table is partitioned by day of `created` (migrations 0323–0325), so no unique index spans a
 * key's possible partitions: `idempotency_claims_take` (migration 0351), once per statement, waits
 * for any transaction claiming one of the keys (per-key advisory locks held to commit, in key
 * order, so two batches never wait on each other in a cycle), then leaves out the keys live in any
 * partition (a retry across midnight sees the first request) and deletes the expired claims of the
 * others (a key whose 24 hours have passed is taken over even if the cleanup has not deleted it
 * yet: the request runs afresh rather than answering a misleading 409). A statement claiming one
 * key twice fails whole (21000, as ON CONFLICT DO UPDATE did): group commit then commits those
 * requests one by one.
 */
export function claimKeysSql(param = 1): string {
  return `insert into idempotency_keys
    select * from idempotency_claims_take($${param}::json)
    on conflict do nothing`;
}

/**
 * For requests that run in their own transaction: claims the key inside it. Returns false when
 * another request holds the key (the caller then rolls back and answers from the stored record).
 */
export async function claimIdempotencyKey(tx: Queryable, record: IdempotencyRecord): Promise<boolean> {
  const { rowCount } = await tx.query(claimKeysSql(), [JSON.stringify([idempotencyRowJson(record)])]);
  return rowCount > 0;
}

/**
 * Claims a key for a request whose response is not known yet; throws IdempotencyConflict when
 * another request holds it. `resourceId` names the object whose settlement will complete it.
 */
export async function claimOpenKey(
  tx: Queryable,
  scope: { merchantId: string; mode: string },
  idempotency: { key: string; requestHash: string },
  nowMs: number,
  resourceId?: string,
): Promise<void> {
  const claimed = await claimIdempotencyKey(tx, {
    merchantId: scope.merchantId,
    mode: scope.mode,
    key: idempotency.key,
    requestHash: idempotency.requestHash,
    statusCode: null,
    responseBody: null,
    createdMs: nowMs,
    ...(resourceId ? { resourceId } : {}),
  });
  if (!claimed) throw new IdempotencyConflict();
}

/** Stores the response of a request that claimed its key open. */
export async function completeKey(
  q: Queryable,
  scope: { merchantId: string; mode: string },
  key: string,
  response: { statusCode: number; body: string },
): Promise<void> {
  await q.query(
    "update idempotency_keys set status_code = $4, response_body = $5 where merchant_id = $1 and mode = $2 and key = $3",
    [scope.merchantId, scope.mode, key, response.statusCode, response.body],
  );
}

/**
 * Keys past their retention are deleted in small batches by a background job, only from the
 * partitions that hold several days (the history from before partitioning and the default one):
 * day partitions are dropped whole by the partition job once all their keys have expired.
 * (Per partition: a ctid names a row only within its partition.)
 */
export async function deleteExpiredIdempotencyKeys(
  q: Queryable,
  nowMs: number,
  batchSizeMax = 1000,
): Promise<number> {
  let deleted = 0;
  for (const partition of await prunablePartitions(q, "idempotency_keys")) {
    const { rowCount } = await q.query(
      `delete from ${partition} where ctid in (
         select ctid from ${partition} where expires_at <= $1 limit $2)`,
      [new Date(nowMs), batchSizeMax - deleted],
    );
    deleted += rowCount;
    if (deleted >= batchSizeMax) break;
  }
  return deleted;
}

/**
 * Completes the records that were waiting for an object to settle: a retry of the request that
 * created it now replays its final state.
 */
export async function completeIdempotencyRecords(
  tx: Queryable,
  resourceId: string,
  statusCode: number,
  responseBody: string,
): Promise<void> {
  await tx.query(
    "update idempotency_keys set status_code = $2, response_body = $3 where resource_id = $1 and status_code is null",
    [resourceId, statusCode, responseBody],
  );
}

/** Gives back a key claimed open whose request failed before it had an answer to store. */
export async function releaseOpenKey(
  q: Queryable,
  scope: { merchantId: string; mode: string },
  key: string,
): Promise<void> {
  await q.query(
    "delete from idempotency_keys where merchant_id = $1 and mode = $2 and key = $3 and status_code is null",
    [scope.merchantId, scope.mode, key],
  );
}
