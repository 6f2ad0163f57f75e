import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { Queryable } from "../db/db.ts";

const PREFIX = "enc1:";

/** CENTIME_TOTP_KEY: 32 bytes as base64 or hex; anything else is refused at start. */
export function parseTotpKey(value: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, "hex") : Buffer.from(value, "base64");
  if (key.length !== 32) throw new Error("CENTIME_TOTP_KEY must be 32 bytes, as base64 or 64 hex digits");
  return key;
}

/**
 * Staff TOTP secrets at rest: AES-256-GCM under CENTIME_TOTP_KEY, bound to the staff id (a secret
 * copied onto another row does not open). Without the variable a key is generated once and kept
 * in the settings table: encrypted still, but a database dump then holds both; set the variable
 * to keep them apart.
 */
export class TotpVault {
  private key: Buffer | null;

  constructor(configured?: string) {
    this.key = configured ? parseTotpKey(configured) : null;
  }

  private async keyFor(q: Queryable): Promise<Buffer> {
    if (this.key) return this.key;
    await q.query("insert into settings (name, value) values ('totp_key', $1) on conflict do nothing", [
      randomBytes(32).toString("base64"),
    ]);
    const { rows } = await q.query<{ value: string }>("select value from settings where name = 'totp_key'");
    this.key = Buffer.from(rows[0]!.value, "base64");
    return this.key;
  }

  async seal(q: Queryable, staffId: string, secret: string): Promise<string> {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", await this.keyFor(q), iv);
    cipher.setAAD(Buffer.from(staffId, "utf8"));
    const sealed = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
    return `${PREFIX}${iv.toString("base64")}:${cipher.getAuthTag().toString("base64")}:${sealed.toString("base64")}`;
  }

  /** The secret, or null when there is none or it does not open (wrong key, another row's). */
  async open(q: Queryable, staffId: string, stored: string | null): Promise<string | null> {
    if (!stored) return null;
    // Secrets stored before encryption arrived (base32 as issued) still open.
    if (!stored.startsWith(PREFIX)) return /^[A-Z2-7]{16,128}$/.test(stored) ? stored : null;
    const [iv, tag, sealed] = stored.slice(PREFIX.length).split(":");
    if (!iv || !tag || sealed === undefined) return null;
    try {
      const decipher = createDecipheriv("aes-256-gcm", await this.keyFor(q), Buffer.from(iv, "base64"));
      decipher.setAAD(Buffer.from(staffId, "utf8"));
      decipher.setAuthTag(Buffer.from(tag, "base64"));
      return Buffer.concat([decipher.update(Buffer.from(sealed, "base64")), decipher.final()]).toString(
        "utf8",
      );
    } catch {
      return null;
    }
  }
}
