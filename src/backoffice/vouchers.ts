import { presentApproval } from "../approvals/index.ts";
import type { Actor } from "../audit/index.ts";
import type { Queryable } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import type { Mode } from "../platform/scope.ts";
import { type Access, holds, notASecondPerson } from "../staff/index.ts";
import type { BackOfficeServices } from "./context.ts";

/**
 * The person who created a batch: the actor of its audit record (a staff member may hold several
 * credentials, and the batch keeps only the credential), or that credential when none is found.
 */
export async function batchCreator(q: Queryable, batchId: string): Promise<string | null> {
  const { rows } = await q.query<{ actor: string }>(
    `select actor from audit_events where object = $1 and action = 'voucher_batches.create' and outcome = 'success'
     order by id limit 1`,
    [batchId],
  );
  if (rows[0]) return rows[0].actor;
  const batch = await q.query<{ created_by: string }>(
    "select created_by from voucher_batches where id = $1",
    [batchId],
  );
  return batch.rows[0]?.created_by ?? null;
}

/**
 * Refuses an approver who is the batch's creator, or someone the creator made (a merchant's key
 * that mints an `owner` for its team is still the creator: see notASecondPerson).
 */
export async function assertNotBatchCreator(q: Queryable, batchId: string, approver: Actor): Promise<void> {
  const creator = await batchCreator(q, batchId);
  if (creator === null) return;
  if (creator === approver.id || (await notASecondPerson(q, approver, creator)) !== null)
    throw new ApiError("approver_is_creator");
}

/** The creators of several batches at once (for a list), by their audit records. */
export async function batchCreators(q: Queryable, batchIds: string[]): Promise<Map<string, string>> {
  if (batchIds.length === 0) return new Map();
  const { rows } = await q.query<{ object: string; actor: string }>(
    `select object, actor from audit_events
     where object = any($1) and action = 'voucher_batches.create' and outcome = 'success'`,
    [batchIds],
  );
  return new Map(rows.map((r) => [r.object, r.actor]));
}

export interface BatchToApprove {
  id: string;
  merchantId: string;
  mode: Mode;
}

/** The batch a staff member may act on (their merchant's, or any for the platform's staff). */
export async function batchFor(q: Queryable, access: Access, id: string): Promise<BatchToApprove> {
  const { rows } = await q.query<{ merchant_id: string; mode: Mode; status: string }>(
    "select merchant_id, mode, status from voucher_batches where id = $1",
    [id],
  );
  const row = rows[0];
  if (!row || (access.actor.merchantId !== null && row.merchant_id !== access.actor.merchantId))
    throw new ApiError("resource_missing", "id", `No such voucher batch: '${id}'.`);
  if (access.actor.mode !== null && row.mode !== access.actor.mode)
    throw new ApiError("resource_missing", "id", `No such voucher batch: '${id}'.`);
  if (row.status !== "pending_approval")
    throw new ApiError("voucher_batch_unexpected_state", undefined, `This batch is ${row.status} already.`);
  return { id, merchantId: row.merchant_id, mode: row.mode };
}

/**
 * A staff member's approval of a voucher batch: an owner (holding `voucher:approve`) approves at
 * once, being the second person after the batch's creator; anyone else asks for it, and the
 * request waits for an owner (202). The creator can do neither.
 */
export async function approveBatchAsStaff(
  services: BackOfficeServices,
  tx: Queryable,
  access: Access,
  batch: BatchToApprove,
  key: Buffer,
  nowMs: number,
): Promise<{ statusCode: number; body: string }> {
  await assertNotBatchCreator(tx, batch.id, access.actor);
  const { rows } = await tx.query<{ role: string }>("select role from staff where id = $1", [
    access.actor.id,
  ]);
  if (rows[0]?.role === "owner" && holds(access, "voucher:approve")) {
    const approved = await services.community.batches.approve(tx, batch.id, access.actor.id, key, nowMs);
    return { statusCode: 200, body: JSON.stringify(approved) };
  }
  const approval = await services.approvals.request(
    tx,
    access,
    "voucher_batch.approve",
    { merchant: batch.merchantId, mode: batch.mode, batch: batch.id },
    { merchantId: batch.merchantId, mode: batch.mode },
    nowMs,
  );
  return { statusCode: 202, body: JSON.stringify(presentApproval(approval, nowMs)) };
}
