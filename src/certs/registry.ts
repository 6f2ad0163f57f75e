import { appendAudit } from "../audit/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import { newId } from "../platform/ids.ts";
import type { StaffRow } from "../staff/index.ts";

export interface CertificateRow {
  fingerprint: string;
  staff_id: string;
  serial: string;
  not_after: Date;
  revoked_at: Date | null;
  created: Date;
  email?: string;
}

/** The CLI's own writes are audited like any other, by the operator at the console. */
async function audit(
  tx: Queryable,
  action: string,
  object: string,
  changes: Record<string, unknown>,
  nowMs: number,
) {
  await appendAudit(tx, [
    {
      id: newId("aud", nowMs),
      createdMs: nowMs,
      actor: "system:cli",
      actorKind: "system",
      credential: null,
      merchantId: null,
      mode: null,
      action,
      object,
      ip: null,
      userAgent: "centime certs",
      requestId: null,
      outcome: "success",
      statusCode: null,
      changes,
    },
  ]);
}

/** The platform staff member (or, with `merchantId`, the team member) a certificate is for. */
export async function staffByEmail(db: Queryable, email: string, merchantId: string | null) {
  const { rows } = await db.query<StaffRow>(
    "select * from staff where coalesce(merchant_id, '') = coalesce($1, '') and lower(email) = lower($2)",
    [merchantId, email],
  );
  return rows[0] ?? null;
}

export async function registerCertificate(
  db: Db,
  entry: { fingerprint: string; staffId: string; serial: string; notAfter: Date },
  nowMs: number,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      "insert into staff_certificates (fingerprint, staff_id, serial, not_after, created) values ($1, $2, $3, $4, $5)",
      [entry.fingerprint, entry.staffId, entry.serial, entry.notAfter, new Date(nowMs)],
    );
    await audit(
      tx,
      "staff_certificates.create",
      entry.staffId,
      { serial: entry.serial, fingerprint: entry.fingerprint, not_after: entry.notAfter.toISOString() },
      nowMs,
    );
  });
}

/** Revokes by serial or fingerprint; false when no live certificate matched. */
export async function revokeCertificate(
  db: Db,
  which: string,
  nowMs: number,
): Promise<CertificateRow | null> {
  const id = which.toLowerCase().replace(/:/g, "");
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<CertificateRow>(
      `update staff_certificates set revoked_at = $2
       where (serial = $1 or fingerprint = $1) and revoked_at is null returning *`,
      [id, new Date(nowMs)],
    );
    const row = rows[0];
    if (row) {
      await audit(
        tx,
        "staff_certificates.revoke",
        row.staff_id,
        { serial: row.serial, fingerprint: row.fingerprint },
        nowMs,
      );
    }
    return row ?? null;
  });
}

export async function listCertificates(db: Queryable): Promise<CertificateRow[]> {
  const { rows } = await db.query<CertificateRow>(
    `select c.*, s.email from staff_certificates c join staff s on s.id = c.staff_id
     order by c.created desc limit 1000`,
  );
  return rows;
}

/**
 * The staff member a presented certificate signs in: issued by us (recorded), not revoked, not
 * past its date, and its owner not disabled. The TLS layer has already checked the chain.
 */
export async function staffForCertificate(
  db: Queryable,
  fingerprint: string,
  nowMs: number,
): Promise<StaffRow | null> {
  const { rows } = await db.query<StaffRow>(
    `select s.* from staff_certificates c join staff s on s.id = c.staff_id
     where c.fingerprint = $1 and c.revoked_at is null and c.not_after > $2 and s.disabled_at is null`,
    [fingerprint, new Date(nowMs)],
  );
  return rows[0] ?? null;
}
