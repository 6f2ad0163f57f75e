import { createHash } from "node:crypto";
import type { Actor } from "../audit/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import { type ListParams, listPage, type Page } from "../db/pages.ts";
import { canonicalJson } from "../platform/canonical-json.ts";
import { HOUR_MS } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { type Access, holds, notASecondPerson, type Permission, requirePermission } from "../staff/index.ts";

/** Requests wait this long for a second person, then can no longer be approved. */
export const APPROVAL_TTL_MS = 72 * HOUR_MS;

export type ApprovalStatus = "pending" | "approved" | "rejected" | "expired" | "failed";

export interface ApprovalRow {
  id: string;
  merchant_id: string | null;
  mode: string;
  action: string;
  arguments: Record<string, unknown>;
  arguments_hash: string;
  permission: string;
  maker: string;
  status: ApprovalStatus;
  expires_at: Date;
  decided_by: string | null;
  decided_at: Date | null;
  result: unknown;
  created: Date;
}

export interface ExecuteMeta {
  approval: ApprovalRow;
  approver: Actor;
  nowMs: number;
}

/**
 * An action that needs a second person, registered by the capability that owns it. It runs either
 * inside the transaction that records the decision, or (when it has commits of its own, like a
 * refund calling its provider) just after, with the approval's id as its idempotency key.
 */
export type ApprovalAction =
  | {
      name: string;
      permission: Permission;
      /** What asking needs, when it differs from what approving needs (`permission`). */
      requestPermission?: Permission;
      runs: "in_transaction";
      /** Work that must happen before the transaction (creating ledger accounts). */
      prepare?: (args: Record<string, unknown>, meta: ExecuteMeta) => Promise<void>;
      execute: (tx: Queryable, args: Record<string, unknown>, meta: ExecuteMeta) => Promise<unknown>;
    }
  | {
      name: string;
      permission: Permission;
      requestPermission?: Permission;
      runs: "after_commit";
      execute: (
        args: Record<string, unknown>,
        meta: ExecuteMeta & { idempotencyKey: string },
      ) => Promise<unknown>;
    };

export function argumentsHash(args: unknown): string {
  return createHash("sha256").update(canonicalJson(args)).digest("hex");
}

export function presentApproval(row: ApprovalRow, nowMs: number) {
  const expired = row.status === "pending" && row.expires_at.getTime() <= nowMs;
  return {
    id: row.id,
    object: "approval" as const,
    created: row.created.toISOString(),
    status: expired ? ("expired" as const) : row.status,
    action: row.action,
    arguments: row.arguments,
    permission: row.permission,
    merchant: row.merchant_id,
    livemode: row.mode === "live",
    maker: row.maker,
    expires_at: row.expires_at.toISOString(),
    decided_by: row.decided_by,
    decided_at: row.decided_at?.toISOString() ?? null,
    result: row.result ?? null,
  };
}

export class Approvals {
  private readonly actions = new Map<string, ApprovalAction>();

  constructor(
    private readonly db: Db,
    private readonly clock: { nowMs(): number },
  ) {}

  register(action: ApprovalAction): void {
    this.actions.set(action.name, action);
  }

  action(name: string): ApprovalAction {
    const action = this.actions.get(name);
    if (!action) throw new Error(`no approval action named ${name}`);
    return action;
  }

  /** Records a request for `action` with exactly these arguments; nothing runs yet. */
  async request(
    tx: Queryable,
    access: Access,
    name: string,
    args: Record<string, unknown>,
    scope: { merchantId: string | null; mode: string },
    nowMs: number,
  ): Promise<ApprovalRow> {
    const action = this.action(name);
    requirePermission(access, action.requestPermission ?? action.permission);
    const row: ApprovalRow = {
      id: newId("apr", nowMs),
      merchant_id: scope.merchantId,
      mode: scope.mode,
      action: name,
      arguments: args,
      arguments_hash: argumentsHash(args),
      permission: action.permission,
      maker: access.actor.id,
      status: "pending",
      expires_at: new Date(nowMs + APPROVAL_TTL_MS),
      decided_by: null,
      decided_at: null,
      result: null,
      created: new Date(nowMs),
    };
    await tx.query(
      `insert into approvals (id, merchant_id, mode, action, arguments, arguments_hash, permission, maker, status, expires_at, created)
       values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)`,
      [
        row.id,
        row.merchant_id,
        row.mode,
        row.action,
        JSON.stringify(args),
        row.arguments_hash,
        row.permission,
        row.maker,
        row.expires_at,
        row.created,
      ],
    );
    return row;
  }

  async get(q: Queryable, access: Access, id: string, forUpdate = false): Promise<ApprovalRow> {
    const { rows } = await q.query<ApprovalRow>(
      `select * from approvals where id = $1${forUpdate ? " for update" : ""}`,
      [id],
    );
    const row = rows[0];
    // A merchant's people see their merchant's approvals; the platform's see all.
    if (!row || (access.actor.merchantId !== null && row.merchant_id !== access.actor.merchantId)) {
      throw new ApiError("resource_missing", "id", "No such approval.");
    }
    return row;
  }

  /** A page of the approvals the person may see (their merchant's, or all for the platform's), newest first. */
  async list(
    access: Access,
    status: ApprovalStatus | undefined,
    list: ListParams,
  ): Promise<Page<ApprovalRow>> {
    const nowMs = this.clock.nowMs();
    const where: string[] = [];
    const params: unknown[] = [];
    if (access.actor.merchantId !== null) {
      params.push(access.actor.merchantId);
      where.push(`merchant_id = $${params.length}`);
    }
    if (status === "pending" || status === "expired") {
      params.push(new Date(nowMs));
      where.push(`status = 'pending' and expires_at ${status === "pending" ? ">" : "<="} $${params.length}`);
    } else if (status) {
      params.push(status);
      where.push(`status = $${params.length}`);
    }
    return listPage<ApprovalRow>(this.db, "approvals", where, params, list);
  }

  /**
   * The checks every decision makes: pending, not expired, by a second person (not the maker, not
   * an API key, not someone the maker created: see notASecondPerson), with the permission.
   */
  private async checkDecidable(q: Queryable, row: ApprovalRow, access: Access, nowMs: number): Promise<void> {
    if (row.status !== "pending" || row.expires_at.getTime() <= nowMs)
      throw new ApiError("approval_not_pending");
    if (row.maker === access.actor.id) throw new ApiError("approval_own_request");
    const refusal = await notASecondPerson(q, access.actor, row.maker);
    if (refusal === "not_a_person") throw new ApiError("approval_needs_person");
    if (refusal === "created_by_maker")
      throw new ApiError(
        "approval_own_request",
        undefined,
        "You were added by the one who asked (or by their merchant's keys): a second person must approve.",
      );
    if (!holds(access, row.permission as Permission)) {
      throw new ApiError("permission_denied", undefined, `Approving this needs '${row.permission}'.`);
    }
    if (argumentsHash(row.arguments) !== row.arguments_hash) throw new ApiError("approval_arguments_changed");
  }

  /** Prepares an approval outside any transaction (ledger accounts and the like). */
  async prepare(access: Access, id: string): Promise<void> {
    const row = await this.get(this.db, access, id);
    await this.checkDecidable(this.db, row, access, this.clock.nowMs());
    const action = this.action(row.action);
    if (action.runs === "in_transaction" && action.prepare) {
      await action.prepare(row.arguments, {
        approval: row,
        approver: access.actor,
        nowMs: this.clock.nowMs(),
      });
    }
  }

  /**
   * Approves inside `tx`: the row is locked, so the same approval can never run twice. An
   * in-transaction action runs here; an after-commit one is handed back to `finish`.
   */
  async approve(tx: Queryable, access: Access, id: string, nowMs: number): Promise<ApprovalRow> {
    const row = await this.get(tx, access, id, true);
    await this.checkDecidable(tx, row, access, nowMs);
    const action = this.action(row.action);
    const meta = { approval: row, approver: access.actor, nowMs };
    const result = action.runs === "in_transaction" ? await action.execute(tx, row.arguments, meta) : null;
    const { rows } = await tx.query<ApprovalRow>(
      `update approvals set status = 'approved', decided_by = $2, decided_at = $3, result = $4
       where id = $1 and status = 'pending' returning *`,
      [id, access.actor.id, new Date(nowMs), JSON.stringify(result)],
    );
    if (!rows[0]) throw new ApiError("approval_not_pending");
    return rows[0];
  }

  /** Runs an after-commit action once its approval is recorded; a failure is recorded too. */
  async finish(access: Access, row: ApprovalRow): Promise<ApprovalRow> {
    const action = this.action(row.action);
    if (action.runs !== "after_commit") return row;
    const nowMs = this.clock.nowMs();
    let result: unknown;
    let status: ApprovalStatus = "approved";
    try {
      result = await action.execute(row.arguments, {
        approval: row,
        approver: access.actor,
        nowMs,
        idempotencyKey: row.id,
      });
    } catch (error) {
      status = "failed";
      result =
        error instanceof ApiError ? error.toBody() : { error: { type: "api_error", code: "internal_error" } };
    }
    const { rows } = await this.db.query<ApprovalRow>(
      "update approvals set status = $2, result = $3 where id = $1 returning *",
      [row.id, status, JSON.stringify(result)],
    );
    return rows[0] ?? row;
  }

  async reject(tx: Queryable, access: Access, id: string, nowMs: number): Promise<ApprovalRow> {
    const row = await this.get(tx, access, id, true);
    await this.checkDecidable(tx, row, access, nowMs);
    const { rows } = await tx.query<ApprovalRow>(
      `update approvals set status = 'rejected', decided_by = $2, decided_at = $3
       where id = $1 and status = 'pending' returning *`,
      [id, access.actor.id, new Date(nowMs)],
    );
    if (!rows[0]) throw new ApiError("approval_not_pending");
    return rows[0];
  }
}
