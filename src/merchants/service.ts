import { timingSafeEqual } from "node:crypto";
import type { Db, Queryable } from "../db/db.ts";
import { type ListParams, listPage, type Page } from "../db/pages.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import {
  generateKey,
  hashKey,
  type KeyMode,
  type KeyType,
  keyDigest,
  parseKey,
  redactKey,
  secretsEqual,
} from "./keys.ts";

export type AuthContext =
  | { kind: "admin" }
  | {
      kind: "merchant";
      merchantId: string;
      mode: KeyMode;
      keyType: KeyType;
      keyId: string;
      /** A restricted key's permissions; absent or null = every permission of the merchant. */
      permissions?: readonly string[] | null;
    };

export interface MerchantRow {
  id: string;
  name: string;
  default_currency: string | null;
  created: Date;
}

export interface ApiKeyRow {
  id: string;
  merchant_id: string;
  mode: KeyMode;
  type: KeyType;
  secret_hash: string;
  redacted: string;
  name: string | null;
  created: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  /** A restricted secret key's permissions; null = unrestricted. */
  permissions: string[] | null;
}

export interface IssuedKey {
  row: ApiKeyRow;
  /** The key itself: returned once, never stored. */
  key: string;
}

/** Cached key lookups: a key is checked against the database at most this often per process. */
const KEY_CACHE_TTL_MS = 5_000;
const KEY_CACHE_SIZE_MAX = 10_000;
const ADMIN_KEY_SETTING = "admin_key_hash";

export class Merchants {
  private readonly keyCache = new Map<string, { row: ApiKeyRow; fetchedMs: number }>();
  private adminKeyHash: string | null = null;
  /** The SHA-256 of CENTIME_ADMIN_KEY, compared in constant time with each presented key's. */
  private readonly configuredAdminDigest: Buffer | null;

  constructor(
    private readonly db: Db,
    private readonly clock: { nowMs(): number },
    private readonly configuredAdminKey?: string,
  ) {
    this.configuredAdminDigest = configuredAdminKey ? keyDigest(configuredAdminKey) : null;
  }

  /**
   * Makes sure an admin key exists. Returns a newly generated key (to print once) when neither
   * CENTIME_ADMIN_KEY nor a stored one exists.
   */
  async initAdminKey(): Promise<string | null> {
    if (this.configuredAdminKey) return null;
    const { rows } = await this.db.query<{ value: string }>("select value from settings where name = $1", [
      ADMIN_KEY_SETTING,
    ]);
    if (rows[0]) {
      this.adminKeyHash = rows[0].value;
      return null;
    }
    const key = generateKey({ type: "admin" });
    const { rowCount } = await this.db.query(
      "insert into settings (name, value) values ($1, $2) on conflict (name) do nothing",
      [ADMIN_KEY_SETTING, hashKey(key)],
    );
    if (rowCount === 0) return this.initAdminKey();
    this.adminKeyHash = hashKey(key);
    return key;
  }

  /** Replaces the stored admin key (CLI `centime admin-key --reset`). */
  async resetAdminKey(): Promise<string> {
    const key = generateKey({ type: "admin" });
    await this.db.query(
      "insert into settings (name, value) values ($1, $2) on conflict (name) do update set value = excluded.value",
      [ADMIN_KEY_SETTING, hashKey(key)],
    );
    this.adminKeyHash = hashKey(key);
    return key;
  }

  async authenticate(authorization: string | undefined): Promise<AuthContext> {
    if (!authorization) throw new ApiError("api_key_missing");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new ApiError("api_key_missing");
    const key = match[1]!;
    // One digest of the presented key serves both the admin comparison and the lookup.
    const digest = keyDigest(key);
    if (this.configuredAdminDigest && timingSafeEqual(digest, this.configuredAdminDigest))
      return { kind: "admin" };
    const kind = parseKey(key);
    if (!kind) throw new ApiError("api_key_invalid");
    const hash = digest.toString("hex");
    if (kind.type === "admin") {
      // Hash lookups reveal nothing useful about a secret; the comparison is constant-time anyway.
      if (!this.configuredAdminKey && this.adminKeyHash && secretsEqual(hash, this.adminKeyHash)) {
        return { kind: "admin" };
      }
      throw new ApiError("api_key_invalid");
    }
    const row = await this.keyByHash(hash);
    const nowMs = this.clock.nowMs();
    if (!row || row.revoked_at || (row.expires_at && row.expires_at.getTime() <= nowMs)) {
      throw new ApiError("api_key_invalid");
    }
    return {
      kind: "merchant",
      merchantId: row.merchant_id,
      mode: row.mode,
      keyType: row.type,
      keyId: row.id,
      permissions: row.permissions,
    };
  }

  private async keyByHash(hash: string): Promise<ApiKeyRow | null> {
    const cached = this.keyCache.get(hash);
    const nowMs = Date.now();
    if (cached && nowMs - cached.fetchedMs < KEY_CACHE_TTL_MS) return cached.row;
    const { rows } = await this.db.query<ApiKeyRow>("select * from api_keys where secret_hash = $1", [hash]);
    const row = rows[0] ?? null;
    if (row) {
      if (this.keyCache.size >= KEY_CACHE_SIZE_MAX) this.keyCache.clear();
      this.keyCache.set(hash, { row, fetchedMs: nowMs });
    }
    return row;
  }

  async createMerchant(
    q: Queryable,
    input: { name: string; default_currency?: string },
  ): Promise<{
    merchant: MerchantRow;
    keys: Record<`${KeyType}_${KeyMode}`, IssuedKey>;
  }> {
    const nowMs = this.clock.nowMs();
    const merchant: MerchantRow = {
      id: newId("mer", nowMs),
      name: input.name,
      default_currency: input.default_currency ?? null,
      created: new Date(nowMs),
    };
    await q.query("insert into merchants (id, name, default_currency, created) values ($1, $2, $3, $4)", [
      merchant.id,
      merchant.name,
      merchant.default_currency,
      merchant.created,
    ]);
    const issue = (type: KeyType, mode: KeyMode) =>
      this.insertKey(q, merchant.id, type, mode, "default", nowMs);
    return {
      merchant,
      keys: {
        secret_test: await issue("secret", "test"),
        publishable_test: await issue("publishable", "test"),
        secret_live: await issue("secret", "live"),
        publishable_live: await issue("publishable", "live"),
      },
    };
  }

  async getMerchant(id: string): Promise<MerchantRow | null> {
    const { rows } = await this.db.query<MerchantRow>("select * from merchants where id = $1", [id]);
    return rows[0] ?? null;
  }

  private async insertKey(
    q: Queryable,
    merchantId: string,
    type: KeyType,
    mode: KeyMode,
    name: string | null,
    nowMs: number,
    permissions: string[] | null = null,
  ): Promise<IssuedKey> {
    const key = generateKey({ type, mode });
    const row: ApiKeyRow = {
      id: newId("key", nowMs),
      merchant_id: merchantId,
      mode,
      type,
      secret_hash: hashKey(key),
      redacted: redactKey(key),
      name,
      created: new Date(nowMs),
      expires_at: null,
      revoked_at: null,
      permissions,
    };
    await q.query(
      `insert into api_keys (id, merchant_id, mode, type, secret_hash, redacted, name, created, permissions)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        row.id,
        row.merchant_id,
        row.mode,
        row.type,
        row.secret_hash,
        row.redacted,
        row.name,
        row.created,
        permissions,
      ],
    );
    return { row, key };
  }

  async createKey(
    q: Queryable,
    merchantId: string,
    mode: KeyMode,
    type: KeyType,
    name: string | null,
    permissions: string[] | null = null,
  ): Promise<IssuedKey> {
    return this.insertKey(q, merchantId, type, mode, name, this.clock.nowMs(), permissions);
  }

  async listKeys(merchantId: string, mode: KeyMode): Promise<ApiKeyRow[]> {
    const { rows } = await this.db.query<ApiKeyRow>(
      "select * from api_keys where merchant_id = $1 and mode = $2 order by id desc limit 100",
      [merchantId, mode],
    );
    return rows;
  }

  /** A page of the keys of a mode, newest first. */
  keyPage(merchantId: string, mode: KeyMode, list: ListParams): Promise<Page<ApiKeyRow>> {
    return listPage<ApiKeyRow>(
      this.db,
      "api_keys",
      ["merchant_id = $1", "mode = $2"],
      [merchantId, mode],
      list,
    );
  }

  async getKey(merchantId: string, mode: KeyMode, id: string): Promise<ApiKeyRow | null> {
    const { rows } = await this.db.query<ApiKeyRow>(
      "select * from api_keys where id = $1 and merchant_id = $2 and mode = $3",
      [id, merchantId, mode],
    );
    return rows[0] ?? null;
  }

  /** Issues a new key of the same type and lets the old one live on for a grace period. */
  async rollKey(
    tx: Queryable,
    merchantId: string,
    mode: KeyMode,
    id: string,
    graceMs: number,
  ): Promise<IssuedKey | null> {
    const nowMs = this.clock.nowMs();
    {
      const { rows } = await tx.query<ApiKeyRow>(
        `update api_keys set expires_at = least(coalesce(expires_at, $4), $4)
         where id = $1 and merchant_id = $2 and mode = $3 and revoked_at is null
         returning *`,
        [id, merchantId, mode, new Date(nowMs + graceMs)],
      );
      const old = rows[0];
      if (!old) return null;
      this.forget(old.secret_hash);
      return this.insertKey(tx, merchantId, old.type, mode, old.name, nowMs, old.permissions);
    }
  }

  async revokeKey(q: Queryable, merchantId: string, mode: KeyMode, id: string): Promise<ApiKeyRow | null> {
    const { rows } = await q.query<ApiKeyRow>(
      `update api_keys set revoked_at = coalesce(revoked_at, $4)
       where id = $1 and merchant_id = $2 and mode = $3 returning *`,
      [id, merchantId, mode, new Date(this.clock.nowMs())],
    );
    if (rows[0]) this.forget(rows[0].secret_hash);
    return rows[0] ?? null;
  }

  private forget(hash: string): void {
    this.keyCache.delete(hash);
  }
}

export function presentKey(row: ApiKeyRow, nowMs: number) {
  return {
    id: row.id,
    object: "api_key" as const,
    created: row.created.toISOString(),
    livemode: row.mode === "live",
    type: row.type,
    name: row.name,
    redacted_key: row.redacted,
    permissions: row.permissions ?? null,
    expires_at: row.expires_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    active: !row.revoked_at && (!row.expires_at || row.expires_at.getTime() > nowMs),
  };
}

export function presentMerchant(row: MerchantRow) {
  return {
    id: row.id,
    object: "merchant" as const,
    created: row.created.toISOString(),
    name: row.name,
    default_currency: row.default_currency,
  };
}
