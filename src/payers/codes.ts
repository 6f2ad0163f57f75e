import { createHmac, randomInt, timingSafeEqual } from "node:crypto";
import type { Db, Queryable } from "../db/db.ts";
import { newId } from "../platform/ids.ts";

/**
 * One-time codes to an MSISDN or an e-mail address. Only a keyed hash is stored; a code lives ten
 * minutes, allows a few attempts, and a new code replaces the previous one.
 */
export const CODE_LIMITS = {
  digits: 6,
  ttl_ms: 10 * 60_000,
  attempts_max: 5,
} as const;

export interface Identity {
  kind: "msisdn" | "email";
  value: string;
}

function codeHash(key: Uint8Array, id: string, code: string): string {
  return createHmac("sha256", key).update(`${id}:${code}`).digest("hex");
}

export async function createCode(
  tx: Queryable,
  key: Uint8Array,
  identity: Identity,
  live: boolean,
  nowMs: number,
): Promise<{ id: string; code: string; expiresMs: number }> {
  const code = String(randomInt(0, 10 ** CODE_LIMITS.digits)).padStart(CODE_LIMITS.digits, "0");
  const id = newId("pcode", nowMs);
  const expiresMs = nowMs + CODE_LIMITS.ttl_ms;
  await tx.query("update payer_codes set used_at = $3 where kind = $1 and value = $2 and used_at is null", [
    identity.kind,
    identity.value,
    new Date(nowMs),
  ]);
  await tx.query(
    `insert into payer_codes (id, kind, value, code_hash, live, expires_at, created)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [id, identity.kind, identity.value, codeHash(key, id, code), live, new Date(expiresMs), new Date(nowMs)],
  );
  return { id, code, expiresMs };
}

/**
 * Checks a code against the recipient's current one. A wrong code uses up an attempt (committed,
 * whatever the caller does next); the right one is used once.
 */
export async function verifyCode(
  db: Db,
  key: Uint8Array,
  identity: Identity,
  code: string,
  nowMs: number,
): Promise<{ ok: true; live: boolean } | { ok: false }> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string; code_hash: string; attempts: number; live: boolean }>(
      `select id, code_hash, attempts, live from payer_codes
       where kind = $1 and value = $2 and used_at is null and expires_at > $3
       order by id desc limit 1 for update`,
      [identity.kind, identity.value, new Date(nowMs)],
    );
    const row = rows[0];
    if (!row || row.attempts >= CODE_LIMITS.attempts_max) return { ok: false };
    const expected = Buffer.from(row.code_hash, "hex");
    const given = Buffer.from(codeHash(key, row.id, code), "hex");
    if (!timingSafeEqual(expected, given)) {
      await tx.query("update payer_codes set attempts = attempts + 1 where id = $1", [row.id]);
      return { ok: false };
    }
    await tx.query("update payer_codes set used_at = $2 where id = $1", [row.id, new Date(nowMs)]);
    return { ok: true, live: row.live };
  });
}

/** Codes past their expiry are of no use to anyone: deleted in small batches. */
export async function deleteExpiredCodes(db: Queryable, nowMs: number, batchSizeMax = 1000): Promise<number> {
  const { rowCount } = await db.query(
    "delete from payer_codes where id in (select id from payer_codes where expires_at <= $1 limit $2)",
    [new Date(nowMs), batchSizeMax],
  );
  return rowCount;
}
