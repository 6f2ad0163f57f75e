import { hash as digestOf, randomInt } from "node:crypto";
import type { Queryable } from "../db/db.ts";
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

/**
 * JSON with object keys sorted, so a jsonb round trip hashes the same. Written with loops and
 * string appends: it runs for every audited request (each payment's record). Values JSON has no
 * form for are written as they read back from the stored text: a Date (anything with `toJSON`)
 * as its JSON, a bigint as a string (jsonb would keep a number exactly, but JavaScript reads a
 * large one back rounded and the hash would no longer match); functions and symbols are left
 * out, as JSON.stringify leaves them.
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined || typeof value === "function" || typeof value === "symbol") return "null";
  if (typeof value === "bigint") return JSON.stringify(value.toString());
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return canonicalJson(toJSON.call(value));
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonicalJson(value[i]);
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  // The default sort compares UTF-16 code units, as `<` does.
  const keys = Object.keys(object).sort();
  let out = "{";
  for (const key of keys) {
    const inner = object[key];
    if (inner === undefined || typeof inner === "function" || typeof inner === "symbol") continue;
    out += `${out.length === 1 ? "" : ","}${JSON.stringify(key)}:${canonicalJson(inner)}`;
  }
  return `${out}}`;
}

/** Every field that matters, in a fixed order, chained to the previous row's hash. */
export function rowHash(prevHash: string, row: Omit<AuditRow, "hash" | "prev_hash">): string {
  return hashOf(prevHash, row, canonicalJson(row.changes ?? null));
}

/** rowHash with the row's changes already in canonical JSON. */
function hashOf(prevHash: string, row: Omit<AuditRow, "hash" | "prev_hash">, changesJson: string): string {
  return chainHash(
    prevHash,
    hashedFieldsJson(
      row.id,
      row.created.getTime(),
      row.lane,
      String(row.seq),
      row.actor,
      row.actor_kind,
      row.credential,
      row.merchant_id,
      row.mode,
      row.action,
      row.object,
      row.ip,
      row.user_agent,
      row.request_id,
      row.outcome,
      row.status_code,
    ),
    changesJson,
  );
}

/**
 * Every hashed field but `changes`, in their fixed order, as a JSON array. They are strings,
 * numbers or null: canonical as JSON.stringify writes them. One function for the writer
 * (chainDrafts) and the verifier (rowHash), so they cannot disagree on the order.
 */
function hashedFieldsJson(
  id: string,
  createdMs: number,
  lane: number,
  seq: string,
  actor: string,
  actorKind: string,
  credential: string | null,
  merchantId: string | null,
  mode: string | null,
  action: string,
  object: string | null,
  ip: string | null,
  userAgent: string | null,
  requestId: string | null,
  outcome: string,
  statusCode: number | null,
): string {
  return JSON.stringify([
    id,
    createdMs,
    lane,
    seq,
    actor,
    actorKind,
    credential,
    merchantId,
    mode,
    action,
    object,
    ip,
    userAgent,
    requestId,
    outcome,
    statusCode,
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
    const statusCode = draft.statusCode;
    // The changes are serialized once, canonically: hashed, and stored as that same text. The
    // row is written straight from the draft (this runs for every audited request).
    const changesJson = canonicalJson(draft.changes ?? null);
    const hash = chainHash(
      prev,
      hashedFieldsJson(
        draft.id,
        draft.createdMs,
        lane,
        seqText,
        draft.actor,
        draft.actorKind,
        draft.credential,
        draft.merchantId,
        draft.mode,
        draft.action,
        draft.object,
        draft.ip,
        draft.userAgent,
        draft.requestId,
        draft.outcome,
        statusCode,
      ),
      changesJson,
    );
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
      status_code: statusCode,
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
