import type { Db } from "../db/db.ts";
import { AUDIT_LANES, type AuditRow, GENESIS_HASH, rowHash } from "./chain.ts";

export interface BrokenLink {
  id: string | null;
  lane: number;
  seq: string;
  created: string | null;
  reason: "hash_mismatch" | "prev_hash_mismatch" | "missing_row" | "head_mismatch";
}

export interface VerifyResult {
  object: "audit_verification";
  valid: boolean;
  checked: number;
  first_broken?: BrokenLink;
}

const PAGE_SIZE = 2000;

/** Walks one lane from its first row; returns the first broken link, if any. */
async function verifyLane(db: Db, lane: number): Promise<{ checked: number; broken: BrokenLink | null }> {
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1n;
  let checked = 0;
  for (;;) {
    const { rows } = await db.query<AuditRow>(
      "select * from audit_events where lane = $1 and seq >= $2 order by seq limit $3",
      [lane, expectedSeq.toString(), PAGE_SIZE],
    );
    for (const row of rows) {
      const seq = BigInt(row.seq);
      const at = { id: row.id, lane, seq: seq.toString(), created: row.created.toISOString() };
      if (seq !== expectedSeq) {
        return {
          checked,
          broken: { ...at, id: null, seq: expectedSeq.toString(), created: null, reason: "missing_row" },
        };
      }
      if (row.prev_hash !== prevHash) return { checked, broken: { ...at, reason: "prev_hash_mismatch" } };
      const { hash: stored, prev_hash: _prev, ...content } = row;
      if (rowHash(prevHash, content) !== stored)
        return { checked, broken: { ...at, reason: "hash_mismatch" } };
      prevHash = stored;
      expectedSeq = seq + 1n;
      checked++;
    }
    if (rows.length < PAGE_SIZE) break;
  }
  // The head must point at the last row: rows removed from the end show here.
  const { rows: heads } = await db.query<{ seq: string | bigint; hash: string }>(
    "select seq, hash from audit_heads where lane = $1",
    [lane],
  );
  const head = heads[0];
  if (head && (BigInt(head.seq) !== expectedSeq - 1n || head.hash !== prevHash)) {
    return {
      checked,
      broken: { id: null, lane, seq: expectedSeq.toString(), created: null, reason: "head_mismatch" },
    };
  }
  return { checked, broken: null };
}

/** Walks every lane of the chain and names the first broken link (the earliest, by time). */
export async function verifyAuditChain(db: Db): Promise<VerifyResult> {
  let checked = 0;
  let first: BrokenLink | null = null;
  for (let lane = 0; lane < AUDIT_LANES; lane++) {
    const result = await verifyLane(db, lane);
    checked += result.checked;
    const broken = result.broken;
    if (broken && (!first || (broken.created ?? "~") < (first.created ?? "~"))) first = broken;
  }
  return first
    ? { object: "audit_verification", valid: false, checked, first_broken: first }
    : { object: "audit_verification", valid: true, checked };
}

export interface Checkpoint {
  object: "audit_checkpoint";
  day: string;
  created: string;
  heads: Array<{ lane: number; seq: string; hash: string }>;
}

/**
 * The chain's heads now: kept outside the database (printed, mailed, committed elsewhere), it
 * proves later that no row up to these heads was rewritten, even by someone who recomputed the
 * chain. Stored too, one per day.
 */
export async function exportCheckpoint(db: Db, nowMs: number): Promise<Checkpoint> {
  const { rows } = await db.query<{ lane: number; seq: string | bigint; hash: string }>(
    "select lane, seq, hash from audit_heads order by lane",
  );
  const checkpoint: Checkpoint = {
    object: "audit_checkpoint",
    day: new Date(nowMs).toISOString().slice(0, 10),
    created: new Date(nowMs).toISOString(),
    heads: rows.map((r) => ({ lane: r.lane, seq: String(r.seq), hash: r.hash })),
  };
  await db.query(
    "insert into audit_checkpoints (day, heads, created) values ($1, $2, $3) on conflict (day) do update set heads = excluded.heads, created = excluded.created",
    [checkpoint.day, JSON.stringify(checkpoint.heads), checkpoint.created],
  );
  return checkpoint;
}
