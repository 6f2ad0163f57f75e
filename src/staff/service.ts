import { createHash } from "node:crypto";
import type { Actor } from "../audit/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import { isUniqueViolation } from "../db/db.ts";
import { type ListParams, listPage, type Page } from "../db/pages.ts";
import type { AuthContext } from "../merchants/index.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import {
  ALL_PERMISSIONS,
  DEFAULT_ROLES,
  isPermission,
  type Permission,
  PLATFORM_PERMISSIONS,
  scopedPermissions,
} from "./permissions.ts";
import { generateStaffKey, hashPassword, isStaffKey, newTotpSecret } from "./secrets.ts";
import { TotpVault } from "./totp-vault.ts";

/** What a request may do, and as whom it is recorded. */
export interface Access {
  actor: Actor;
  /** `all`: the platform owner (admin key) or an unrestricted merchant secret key. */
  permissions: "all" | ReadonlySet<Permission>;
  auth: AuthContext;
}

export interface StaffRow {
  id: string;
  merchant_id: string | null;
  email: string;
  role: string;
  mode: "test" | "live";
  password_hash: string | null;
  totp_secret: string | null;
  time_zone: string;
  locale: string;
  disabled_at: Date | null;
  /** Who created this person (a staff id, an API key id or `owner`); null when unknown. */
  created_by: string | null;
  created: Date;
}

export function holds(access: Access, permission: Permission): boolean {
  if (access.permissions === "all") {
    // Even the merchant's own unrestricted key never holds platform permissions.
    return access.actor.merchantId === null || !PLATFORM_PERMISSIONS.has(permission);
  }
  return access.permissions.has(permission);
}

export function requirePermission(access: Access, permission: Permission): void {
  if (!holds(access, permission)) {
    throw new ApiError("permission_denied", undefined, `This needs the permission '${permission}'.`);
  }
}

/** Nobody grants what they do not hold. */
export function requireHoldsAll(access: Access, permissions: Iterable<Permission>, param: string): void {
  for (const p of permissions) {
    if (!holds(access, p)) {
      throw new ApiError("permission_not_grantable", param, `You cannot grant '${p}': you do not hold it.`);
    }
  }
}

export function presentStaff(row: StaffRow) {
  return {
    id: row.id,
    object: "staff" as const,
    created: row.created.toISOString(),
    email: row.email,
    role: row.role,
    merchant: row.merchant_id,
    mode: row.mode,
    time_zone: row.time_zone,
    locale: row.locale,
    password_set: row.password_hash !== null,
    totp_enabled: row.totp_secret !== null,
    disabled: row.disabled_at !== null,
  };
}

function keyHash(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

const KEY_CACHE_TTL_MS = 5_000;

export class StaffDirectory {
  private readonly keyCache = new Map<string, { access: Access | null; fetchedMs: number }>();

  private readonly vault: TotpVault;

  constructor(
    private readonly db: Db,
    private readonly clock: { nowMs(): number },
    totpKey?: string,
  ) {
    this.vault = new TotpVault(totpKey);
  }

  /** The staff member's TOTP secret, decrypted. */
  totpSecretOf(staff: StaffRow): Promise<string | null> {
    return this.vault.open(this.db, staff.id, staff.totp_secret);
  }

  /**
   * Records the time step of a code just used; false when that step (or a later one) was used
   * already, so a code is good once even within its window. One statement: two sign-ins racing
   * with the same code cannot both win.
   */
  async claimTotpStep(staffId: string, step: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      "update staff set totp_last_step = $2 where id = $1 and (totp_last_step is null or totp_last_step < $2)",
      [staffId, step],
    );
    return rowCount === 1;
  }

  /** The permissions of a role (default or custom) for a member of `merchantId`'s team. */
  async rolePermissions(
    q: Queryable,
    merchantId: string | null,
    role: string,
  ): Promise<Set<Permission> | null> {
    const builtIn = DEFAULT_ROLES[role];
    if (builtIn) return scopedPermissions(builtIn, merchantId);
    const { rows } = await q.query<{ permissions: string[] }>(
      "select permissions from staff_roles where coalesce(merchant_id, '') = coalesce($1, '') and name = $2",
      [merchantId, role],
    );
    return rows[0] ? scopedPermissions(rows[0].permissions, merchantId) : null;
  }

  /** The access of a staff member, as their key, session or certificate proves them. */
  async accessOf(staff: StaffRow, credential: string): Promise<Access> {
    const permissions = (await this.rolePermissions(this.db, staff.merchant_id, staff.role)) ?? new Set();
    const actor: Actor = {
      id: staff.id,
      kind: "staff",
      credential,
      merchantId: staff.merchant_id,
      mode: staff.merchant_id ? staff.mode : null,
    };
    const auth: AuthContext = staff.merchant_id
      ? {
          kind: "merchant",
          merchantId: staff.merchant_id,
          mode: staff.mode,
          keyType: "secret",
          keyId: credential,
        }
      : { kind: "admin" };
    return { actor, permissions, auth };
  }

  /** A personal `sk_staff_…` key, or null when the bearer is not one. */
  async authenticateKey(key: string): Promise<Access> {
    if (!isStaffKey(key)) throw new ApiError("api_key_invalid");
    const hash = keyHash(key);
    const nowMs = this.clock.nowMs();
    const cached = this.keyCache.get(hash);
    if (cached && nowMs - cached.fetchedMs < KEY_CACHE_TTL_MS) {
      if (!cached.access) throw new ApiError("api_key_invalid");
      return cached.access;
    }
    const { rows } = await this.db.query<StaffRow & { key_id: string }>(
      `select s.*, k.id as key_id from staff_keys k join staff s on s.id = k.staff_id
       where k.secret_hash = $1 and k.revoked_at is null and s.disabled_at is null`,
      [hash],
    );
    const row = rows[0];
    const access = row ? await this.accessOf(row, row.key_id) : null;
    if (this.keyCache.size > 10_000) this.keyCache.clear();
    this.keyCache.set(hash, { access, fetchedMs: nowMs });
    if (!access) throw new ApiError("api_key_invalid");
    return access;
  }

  async get(q: Queryable, id: string): Promise<StaffRow | null> {
    const { rows } = await q.query<StaffRow>("select * from staff where id = $1", [id]);
    return rows[0] ?? null;
  }

  async byEmail(merchantId: string | null, email: string): Promise<StaffRow | null> {
    const { rows } = await this.db.query<StaffRow>(
      "select * from staff where coalesce(merchant_id, '') = coalesce($1, '') and lower(email) = lower($2)",
      [merchantId, email],
    );
    return rows[0] ?? null;
  }

  /** Every account with this e-mail (a person may be on several teams); sign-in picks the first. */
  async allByEmail(email: string): Promise<StaffRow[]> {
    const { rows } = await this.db.query<StaffRow>(
      "select * from staff where lower(email) = lower($1) and disabled_at is null order by merchant_id nulls first, id",
      [email],
    );
    return rows;
  }

  /**
   * The e-mails of these staff members, by id, as a viewer may see them: platform staff (no
   * merchant) see everyone's; a merchant's team sees only its own (a platform support agent who
   * acted on the merchant stays an id).
   */
  async emailsOf(ids: readonly string[], viewerMerchantId: string | null): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const { rows } = await this.db.query<{ id: string; email: string }>(
      "select id, email from staff where id = any($1::text[]) and ($2::text is null or merchant_id = $2)",
      [ids, viewerMerchantId],
    );
    return new Map(rows.map((r) => [r.id, r.email]));
  }

  async list(merchantId: string | null): Promise<StaffRow[]> {
    const { rows } = await this.db.query<StaffRow>(
      merchantId === null
        ? "select * from staff order by id desc limit 500"
        : "select * from staff where merchant_id = $1 order by id desc limit 500",
      merchantId === null ? [] : [merchantId],
    );
    return rows;
  }

  /** A page of the staff a merchant's team sees (its own) or the platform sees (everyone), newest first. */
  page(merchantId: string | null, list: ListParams): Promise<Page<StaffRow>> {
    const [where, params] = merchantId === null ? [[], []] : [["merchant_id = $1"], [merchantId]];
    return listPage<StaffRow>(this.db, "staff", where, params, list);
  }

  async create(
    tx: Queryable,
    access: Access,
    input: {
      email: string;
      role: string;
      merchant?: string;
      mode?: "test" | "live";
      password?: string;
      time_zone?: string;
      locale?: string;
    },
    nowMs: number,
  ): Promise<{ staff: StaffRow; apiKey: string; totpSecret: string }> {
    // A merchant's own team: its key or team members decide; the platform may invite anywhere.
    const merchantId = access.actor.merchantId ?? input.merchant ?? null;
    if (access.actor.merchantId && input.merchant && input.merchant !== access.actor.merchantId) {
      throw new ApiError("permission_denied", "merchant", "You can only invite members of your own team.");
    }
    if (merchantId) {
      const { rowCount } = await tx.query("select 1 from merchants where id = $1", [merchantId]);
      if (rowCount === 0) throw new ApiError("resource_missing", "merchant", "No such merchant.");
    }
    const permissions = await this.rolePermissions(tx, merchantId, input.role);
    if (!permissions) throw new ApiError("parameter_invalid", "role", `No such role: '${input.role}'.`);
    requireHoldsAll(access, permissions, "role");
    const totpSecret = newTotpSecret();
    const staff: StaffRow = {
      id: newId("stf", nowMs),
      merchant_id: merchantId,
      email: input.email,
      role: input.role,
      mode: input.mode ?? (access.actor.mode === "live" ? "live" : "test"),
      password_hash: input.password ? await hashPassword(input.password) : null,
      totp_secret: null,
      time_zone: input.time_zone ?? "UTC",
      locale: input.locale ?? "en",
      disabled_at: null,
      created_by: access.actor.id,
      created: new Date(nowMs),
    };
    staff.totp_secret = await this.vault.seal(tx, staff.id, totpSecret);
    try {
      await tx.query(
        `insert into staff (id, merchant_id, email, role, mode, password_hash, totp_secret, time_zone, locale, created_by, created)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          staff.id,
          staff.merchant_id,
          staff.email,
          staff.role,
          staff.mode,
          staff.password_hash,
          staff.totp_secret,
          staff.time_zone,
          staff.locale,
          staff.created_by,
          staff.created,
        ],
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new ApiError("staff_exists", "email");
      throw error;
    }
    const apiKey = generateStaffKey();
    await tx.query(
      "insert into staff_keys (id, staff_id, secret_hash, redacted, created) values ($1, $2, $3, $4, $5)",
      [newId("skey", nowMs), staff.id, keyHash(apiKey), `sk_staff_…${apiKey.slice(-4)}`, staff.created],
    );
    return { staff, apiKey, totpSecret };
  }

  /** Applies a role change (run by its approval). */
  async changeRole(tx: Queryable, staffId: string, role: string): Promise<StaffRow> {
    const { rows } = await tx.query<StaffRow>("update staff set role = $2 where id = $1 returning *", [
      staffId,
      role,
    ]);
    if (!rows[0]) throw new ApiError("resource_missing", "staff", "No such staff member.");
    this.keyCache.clear();
    return rows[0];
  }

  async createRole(
    tx: Queryable,
    access: Access,
    input: { name: string; permissions: string[] },
    nowMs: number,
  ) {
    const unknown = input.permissions.find((p) => !isPermission(p));
    if (unknown) throw new ApiError("parameter_invalid", "permissions", `No such permission: '${unknown}'.`);
    if (DEFAULT_ROLES[input.name])
      throw new ApiError("staff_exists", "name", "A default role has this name.");
    const permissions = input.permissions as Permission[];
    requireHoldsAll(access, permissions, "permissions");
    const role = {
      id: newId("role", nowMs),
      merchant_id: access.actor.merchantId,
      name: input.name,
      permissions,
      created: new Date(nowMs),
    };
    try {
      await tx.query(
        "insert into staff_roles (id, merchant_id, name, permissions, created) values ($1, $2, $3, $4, $5)",
        [role.id, role.merchant_id, role.name, role.permissions, role.created],
      );
    } catch (error) {
      if (isUniqueViolation(error))
        throw new ApiError("staff_exists", "name", "A role with this name exists.");
      throw error;
    }
    return presentRole(role);
  }

  async listRoles(merchantId: string | null) {
    const { rows } = await this.db.query<{
      id: string;
      merchant_id: string | null;
      name: string;
      permissions: string[];
      created: Date;
    }>("select * from staff_roles where coalesce(merchant_id, '') = coalesce($1, '') order by name", [
      merchantId,
    ]);
    const defaults = Object.entries(DEFAULT_ROLES).map(([name, permissions]) => ({
      id: `role_${name}`,
      object: "role" as const,
      name,
      permissions: [...scopedPermissions(permissions, merchantId)],
      default: true,
    }));
    return [...defaults, ...rows.map((r) => ({ ...presentRole(r), default: false }))];
  }
}

function presentRole(role: {
  id: string;
  merchant_id: string | null;
  name: string;
  permissions: string[];
  created: Date;
}) {
  return {
    id: role.id,
    object: "role" as const,
    created: role.created.toISOString(),
    name: role.name,
    merchant: role.merchant_id,
    permissions: role.permissions,
  };
}

export { ALL_PERMISSIONS };
