import { hash as digestOf, randomInt } from "node:crypto";
import type { Queryable } from "../db/db.ts";
import { canonicalJson } from "../platform/canonical-json.ts";
import { environmentValue } from "../platform/config.ts";

/** Independent chains: a writer locks one lane's head, so writers rarely wait for each other. */
export const AUDIT_LANES = 16;
export const GENESIS_HASH = "0".repeat(64);

export interface AuditDraft {
  id: string;
  createdMs: number;
  actor: string;
  actorKind: string;
  credential: string | null;
  merchantId: string | null;
  mode: string | null;
  action: string;
  object: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  outcome: "success" | "refused";
  statusCode: number | null;
  changes: unknown;
}

/** The stored row, as read back for verification. */
export interface AuditRow {
  id: string;
  created: Date;
  lane: number;
  seq: string | bigint | number;
  actor: string;
  actor_kind: string;
  credential: string | null;
  merchant_id: string | null;
  mode: string | null;
  action: string;
  object: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  outcome: string;
  status_code: number | null;
  changes: unknown;
  prev_hash: string;
  hash: string;
}

/** Every field that matters, in a fixed order, chained to the previous row's hash. */
export function rowHash(prevHash: string, row: Omit<AuditRow, "hash" | "prev_hash">): string {
  const fields: HashedFields = {
    id: row.id,
    createdMs: row.created.getTime(),
    actor: row.actor,
    actorKind: row.actor_kind,
    credential: row.credential,
    merchantId: row.merchant_id,
    mode: row.mode,
    action: row.action,
    object: row.object,
    ip: row.ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
    outcome: row.outcome,
    statusCode: row.status_code,
  };
  return chainHash(
    prevHash,
    hashedFieldsJson(fields, row.lane, String(row.seq)),
    canonicalJson(row.changes ?? null),
  );
}

/** Every hashed field but `changes`, whether read from a draft or (verification) a stored row. */
type HashedFields = Omit<AuditDraft, "changes" | "outcome"> & { outcome: string };

/**
 * The hashed fields but `changes`, in their fixed order, as a JSON array: strings, numbers or
 * null, canonical as JSON.stringify writes them. The writer (chainDrafts) and the verifier
 * (rowHash) both go through here, so they cannot disagree on the order.
 */
function hashedFieldsJson(fields: HashedFields, lane: number, seq: string): string {
  return JSON.stringify([
    fields.id,
    fields.createdMs,
    lane,
    seq,
    fields.actor,
    fields.actorKind,
    fields.credential,
    fields.merchantId,
    fields.mode,
    fields.action,
    fields.object,
    fields.ip,
    fields.userAgent,
    fields.requestId,
    fields.outcome,
    fields.statusCode,
  ]);
}

function chainHash(prevHash: string, fieldsJson: string, changesJson: string): string {
  return digestOf("sha256", `${prevHash}\n${fieldsJson.slice(0, -1)},${changesJson}]`);
}

/** `CENTIME_AUDIT_LOG=off` exists only to measure what the log costs (bench); never in production. */
const AUDIT_OFF = environmentValue("CENTIME_AUDIT_LOG") === "off";

const APPEND_SQL = `with appended as (
    insert into audit_events select * from json_populate_recordset(null::audit_events, $1::json))
  update audit_heads set seq = $2, hash = $3 where lane = $4`;

/** A lane's head: the last row's sequence number and hash. */
export interface LaneHead {
  seq: bigint;
  hash: string;
}

/** Chains drafts after `head` in `lane`: the rows to insert (as JSON) and the new head. */
export function chainDrafts(
  lane: number,
  head: LaneHead,
  drafts: readonly AuditDraft[],
): { rowsJson: string; head: LaneHead } {
  let seq = head.seq;
  let prev = head.hash;
  const out: string[] = [];
  for (const draft of drafts) {
    seq += 1n;
    const seqText = seq.toString();
    // The changes are serialized once, canonically: hashed, and stored as that same text. The
    // row is written straight from the draft (this runs for every audited request).
    const changesJson = canonicalJson(draft.changes ?? null);
    const hash = chainHash(prev, hashedFieldsJson(draft, lane, seqText), changesJson);
    const json = JSON.stringify({
      id: draft.id,
      created: new Date(draft.createdMs).toISOString(),
      lane,
      seq: seqText,
      actor: draft.actor,
      actor_kind: draft.actorKind,
      credential: draft.credential,
      merchant_id: draft.merchantId,
      mode: draft.mode,
      action: draft.action,
      object: draft.object,
      ip: draft.ip,
      user_agent: draft.userAgent,
      request_id: draft.requestId,
      outcome: draft.outcome,
      status_code: draft.statusCode,
      prev_hash: prev,
      hash,
    });
    out.push(`${json.slice(0, -1)},"changes":${changesJson}}`);
    prev = hash;
  }
  return { rowsJson: `[${out.join(",")}]`, head: { seq, hash: prev } };
}

/** Reads a lane's head; `lock` holds its row until the transaction ends. */
export async function readLaneHead(tx: Queryable, lane: number, lock: boolean): Promise<LaneHead> {
  const { rows } = await tx.query<{ seq: string | bigint; hash: string }>(
    `select seq, hash from audit_heads where lane = $1${lock ? " for update" : ""}`,
    [lane],
  );
  const head = rows[0];
  if (!head) throw new Error(`audit lane ${lane} has no head`);
  return { seq: BigInt(head.seq), hash: head.hash };
}

/**
 * Appends events inside the caller's transaction: the lane's head is locked until that
 * transaction ends, so the chain follows commit order within a lane and nothing is recorded for
 * a change that rolls back.
 */
export async function appendAudit(tx: Queryable, drafts: readonly AuditDraft[]): Promise<void> {
  if (drafts.length === 0 || AUDIT_OFF) return;
  const lane = randomInt(AUDIT_LANES);
  const chained = chainDrafts(lane, await readLaneHead(tx, lane, true), drafts);
  await tx.query(APPEND_SQL, [chained.rowsJson, chained.head.seq.toString(), chained.head.hash, lane]);
}

export function auditLogOff(): boolean {
  return AUDIT_OFF;
}
