import { randomBytes } from "node:crypto";
import type { Db } from "../db/db.ts";
import type { LinkKey, LinkKeyring } from "./link-signing.ts";

interface KeyRow {
  kid: string;
  secret: string;
  created: Date;
  retires_at: Date | null;
}

/** A new key id: `k` and the creation time in base36, so ids sort by age. */
function newKid(nowMs: number): string {
  return `k${nowMs.toString(36)}${randomBytes(3).toString("hex")}`;
}

/**
 * The payment-link signing keys, held in memory so that a link is verified without a database
 * read. Loaded at start and refreshed now and then (a rotation in another process shows up within
 * `refreshMs`); the process that rotates sees its new key at once.
 */
export class LinkKeyStore {
  private ring: LinkKeyring | null = null;
  private loadedAtMs = 0;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: { nowMs(): number },
    private readonly refreshMs = 30_000,
  ) {}

  /** The ring as last loaded (null before the first load). */
  cached(): LinkKeyring | null {
    const ring = this.ring;
    if (ring && this.clock.nowMs() - this.loadedAtMs > this.refreshMs) void this.refresh();
    return ring;
  }

  /** The ring, loading it (and creating the first key) when needed. */
  async keyring(): Promise<LinkKeyring> {
    if (!this.ring) await this.refresh();
    return this.cached()!;
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const nowMs = this.clock.nowMs();
    let { rows } = await this.db.query<KeyRow>(
      "select * from checkout_link_keys order by created desc, kid desc",
    );
    if (!rows.some((r) => r.retires_at === null)) {
      await this.db.query(
        "insert into checkout_link_keys (kid, secret, created) values ($1, $2, $3) on conflict do nothing",
        [newKid(nowMs), randomBytes(32).toString("base64url"), new Date(nowMs)],
      );
      ({ rows } = await this.db.query<KeyRow>(
        "select * from checkout_link_keys order by created desc, kid desc",
      ));
    }
    const keys: LinkKey[] = rows.map((r) => ({
      kid: r.kid,
      secret: Buffer.from(r.secret, "base64url"),
      retiresAtMs: r.retires_at ? new Date(r.retires_at).getTime() : null,
    }));
    const current = keys.find((k) => k.retiresAtMs === null)!;
    this.ring = { current, byKid: new Map(keys.map((k) => [k.kid, k])) };
    this.loadedAtMs = nowMs;
  }

  /**
   * A new current key; the keys in service retire after `overlapMs`, so links already handed out
   * keep working that long. Answers the new key id and when the previous ones stop verifying.
   */
  async rotate(overlapMs: number): Promise<{ kid: string; previous_retire_at: string }> {
    const nowMs = this.clock.nowMs();
    const kid = newKid(nowMs);
    const retiresAt = new Date(nowMs + overlapMs);
    await this.db.transaction(async (tx) => {
      await tx.query("update checkout_link_keys set retires_at = $1 where retires_at is null", [retiresAt]);
      await tx.query("insert into checkout_link_keys (kid, secret, created) values ($1, $2, $3)", [
        kid,
        randomBytes(32).toString("base64url"),
        new Date(nowMs),
      ]);
    });
    await this.refresh();
    return { kid, previous_retire_at: retiresAt.toISOString() };
  }
}
