import type { Db, Queryable } from "../db/db.ts";
import type { IdempotencyContext } from "../idempotency/index.ts";
import { claimOpenKey, completeIdempotencyRecords } from "../idempotency/index.ts";
import type { Ledger } from "../ledger/index.ts";
import { accountId } from "../ledger/index.ts";
import type { Memberships } from "../memberships/index.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { toJsonAmount } from "../platform/money.ts";
import type { AuthScope, Mode } from "../platform/scope.ts";
import type { RiskGate } from "../risk/index.ts";
import { applyOrThrow, type Wallets } from "../wallets/index.ts";
import { codeHash, isWellFormed, normalizeCode } from "./codes.ts";
import { liabilityAccount, type VoucherBatches } from "./service.ts";

/** After this many wrong codes in a window, a customer (or an IP) must wait for the next window. */
export const FAILURES_MAX = 5;
export const FAILURE_WINDOW_MS = 15 * 60_000;

interface RedemptionRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  batch_id: string;
  serial_number: number;
  customer_id: string;
  status: "pending" | "posted";
  granted: Record<string, unknown>;
  hold_transfer_id: string | null;
  created: Date;
  updated: Date;
}

interface Claimed {
  batch_id: string;
  serial_number: number;
  value_amount: bigint | null;
  value_currency: string | null;
  entitlement: string | null;
  period: string | null;
}

export function presentRedemption(r: RedemptionRow) {
  return {
    id: r.id,
    object: "voucher_redemption" as const,
    created: iso(r.created.getTime()),
    status: r.status,
    customer: r.customer_id,
    batch: r.batch_id,
    granted: r.granted,
  };
}

class NothingToRedeem extends Error {}

function invalid(): ApiError {
  return new ApiError("voucher_invalid", "code");
}

/**
 * Redeems a scratch card in two phases: the first commit claims the card (exactly one of any
 * number of concurrent attempts can) and holds its value on the ledger (`pending`); the second
 * grants the credit or the access and posts the hold (`posted`). A crash between the two leaves a
 * pending redemption that `completePending` finishes. Every wrong, unknown, inactive, used,
 * voided or expired code gets the same answer, and failures are counted per customer and per IP.
 */
export class Redemptions {
  constructor(
    private readonly db: Db,
    private readonly ledger: Ledger,
    private readonly batches: VoucherBatches,
    private readonly wallets: Wallets,
    private readonly memberships: Memberships,
    private readonly risk?: RiskGate,
  ) {}

  async redeem(
    scope: AuthScope,
    input: { code: string; customer: string },
    ip: string,
    idempotency: IdempotencyContext | undefined,
    nowMs: number,
  ): Promise<{ statusCode: number; body: string }> {
    const subjects = [`customer:${input.customer}`, `ip:${ip}`];
    await this.refuseIfThrottled(scope, subjects, nowMs);
    if (this.risk) {
      const verdict = await this.risk.assess(
        scope,
        { flow: "redemption", customer: input.customer, ip },
        nowMs,
      );
      await this.risk.record(verdict);
      if (verdict.action === "block" || verdict.action === "review")
        throw new ApiError(
          "blocked_by_risk_rule",
          undefined,
          `The risk rule '${verdict.rule?.name ?? ""}' refused this redemption.`,
        );
    }
    const { rowCount: customerFound } = await this.db.query(
      "select 1 from customers where id = $1 and merchant_id = $2 and mode = $3",
      [input.customer, scope.merchantId, scope.mode],
    );
    if (customerFound === 0)
      throw new ApiError("resource_missing", "customer", `No such customer: '${input.customer}'.`);
    const code = normalizeCode(input.code);
    // A typo fails its check character before any lookup of the code.
    const formats = await this.batches.formats(scope, nowMs);
    if (!formats.some((format) => isWellFormed(code, format))) return this.fail(scope, subjects, nowMs);
    const hash = codeHash(await this.batches.codeKey(), scope.merchantId, code);
    // The batch is learned before the claim, so its accounts exist before the transaction. An
    // unknown code goes through the same statements as a known one that cannot be redeemed.
    const batch = await this.batches.batchOfCode(scope, hash);
    // The customer's wallet accounts are made between the two phases, so a refused code costs the
    // same whether it exists or not (the batch's accounts are made once per batch).
    if (batch?.value_currency) await this.batches.ensureAccounts(batch, nowMs);
    const redemptionId = newId("vr", nowMs);
    const pending = await this.db
      .transaction(async (tx): Promise<RedemptionRow | null> => {
        if (idempotency) await claimOpenKey(tx, scope, idempotency, nowMs, redemptionId);
        const { rows } = await tx.query<Claimed>(
          `update vouchers v set status = 'redeemed', redemption_id = $4
         from voucher_batches b
         where v.code_hash = $1 and v.merchant_id = $2 and v.mode = $3 and v.status = 'active'
           and b.id = v.batch_id and (b.expires_at is null or b.expires_at > $5)
         returning v.batch_id, v.serial_number, b.value_amount, b.value_currency, b.entitlement, b.period`,
          [hash, scope.merchantId, scope.mode, redemptionId, new Date(nowMs)],
        );
        const claimed = rows[0];
        // Nothing to claim: roll back (the idempotency key too), then answer like any bad code.
        if (!claimed) throw new NothingToRedeem();
        let holdTransferId: string | null = null;
        if (claimed.value_amount !== null && claimed.value_currency !== null) {
          holdTransferId = newId("tr", nowMs);
          await applyOrThrow(
            this.ledger,
            tx,
            [
              {
                id: holdTransferId,
                journalId: newId("jrn", nowMs),
                type: "pending",
                debitAccountId: accountId(liabilityAccount(scope, claimed.batch_id, claimed.value_currency)),
                creditAccountId: accountId(this.redeeming(scope, claimed.value_currency)),
                amount: claimed.value_amount,
                currency: claimed.value_currency,
                code: "voucher_redemption_hold",
                reference: redemptionId,
              },
            ],
            nowMs,
          );
        }
        const granted =
          claimed.value_amount !== null
            ? { amount: toJsonAmount(claimed.value_amount), currency: claimed.value_currency }
            : { entitlement: claimed.entitlement, period: claimed.period };
        const row: RedemptionRow = {
          id: redemptionId,
          merchant_id: scope.merchantId,
          mode: scope.mode,
          batch_id: claimed.batch_id,
          serial_number: claimed.serial_number,
          customer_id: input.customer,
          status: "pending",
          granted,
          hold_transfer_id: holdTransferId,
          created: new Date(nowMs),
          updated: new Date(nowMs),
        };
        await tx.query(
          "insert into voucher_redemptions select * from json_populate_record(null::voucher_redemptions, $1::json)",
          [JSON.stringify(row)],
        );
        return row;
      })
      .catch((error: unknown) => {
        if (error instanceof NothingToRedeem) return null;
        throw error;
      });
    if (!pending) return this.fail(scope, subjects, nowMs);
    const posted = await this.complete(pending.id, nowMs);
    const body = JSON.stringify(presentRedemption(posted));
    if (idempotency) await completeIdempotencyRecords(this.db, posted.id, 201, body);
    return { statusCode: 201, body };
  }

  private redeeming(scope: { merchantId: string; mode: Mode }, currency: string) {
    return {
      merchantId: scope.merchantId,
      mode: scope.mode,
      ownerId: scope.merchantId,
      purpose: "voucher_redeeming",
      currency,
    };
  }

  /** Phase two: the credit or the access, and the hold posted. Idempotent: a posted one is returned. */
  async complete(redemptionId: string, nowMs: number): Promise<RedemptionRow> {
    const { rows: seen } = await this.db.query<RedemptionRow>(
      "select * from voucher_redemptions where id = $1",
      [redemptionId],
    );
    const known = seen[0]!;
    if (known.hold_transfer_id)
      await this.wallets.ensureAccounts(
        { merchantId: known.merchant_id, mode: known.mode },
        known.customer_id,
        String(known.granted.currency),
        nowMs,
      );
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<RedemptionRow>(
        "select * from voucher_redemptions where id = $1 for update",
        [redemptionId],
      );
      const r = rows[0]!;
      if (r.status === "posted") return r;
      const scope = { merchantId: r.merchant_id, mode: r.mode };
      const granted = { ...r.granted };
      if (r.hold_transfer_id) {
        const currency = String(r.granted.currency);
        await applyOrThrow(
          this.ledger,
          tx,
          [
            {
              id: newId("tr", nowMs),
              journalId: newId("jrn", nowMs),
              type: "post_pending",
              pendingId: r.hold_transfer_id,
              code: "voucher_redemption",
              reference: r.id,
            },
          ],
          nowMs,
        );
        const grant = await this.wallets.grant(
          tx,
          scope,
          {
            customer: r.customer_id,
            currency,
            amount: BigInt(Number(r.granted.amount)),
            category: "paid",
            source: "voucher",
            sourceId: r.id,
            from: accountId(this.redeeming(scope, currency)),
          },
          nowMs,
        );
        granted.wallet_grant = grant.id;
      } else {
        const entitlement = await this.memberships.grant(
          tx,
          scope,
          r.customer_id,
          { entitlement: String(r.granted.entitlement), period: String(r.granted.period) },
          { kind: "voucher", id: r.id },
          nowMs,
        );
        granted.active_until = entitlement.active_until;
      }
      const posted: RedemptionRow = { ...r, status: "posted", granted, updated: new Date(nowMs) };
      await tx.query(
        "update voucher_redemptions set status = 'posted', granted = $2, updated = $3 where id = $1",
        [r.id, JSON.stringify(granted), posted.updated],
      );
      return posted;
    });
  }

  /** Finishes redemptions a crash left between the two phases. */
  async completePending(nowMs: number, olderThanMs = 30_000): Promise<number> {
    const { rows } = await this.db.query<{ id: string }>(
      "select id from voucher_redemptions where status = 'pending' and created <= $1 order by created limit 100",
      [new Date(nowMs - olderThanMs)],
    );
    for (const { id } of rows) await this.complete(id, nowMs);
    return rows.length;
  }

  private windowStart(nowMs: number): Date {
    return new Date(nowMs - (nowMs % FAILURE_WINDOW_MS));
  }

  private async refuseIfThrottled(scope: AuthScope, subjects: string[], nowMs: number) {
    const { rows } = await this.db.query<{ failures: number }>(
      `select coalesce(max(failures), 0) as failures from voucher_failures
       where merchant_id = $1 and mode = $2 and subject = any($3::text[]) and window_start = $4`,
      [scope.merchantId, scope.mode, subjects, this.windowStart(nowMs)],
    );
    if ((rows[0]?.failures ?? 0) >= FAILURES_MAX) {
      const retryAfterMs = this.windowStart(nowMs).getTime() + FAILURE_WINDOW_MS - nowMs;
      throw new ApiError("voucher_attempts_exceeded", "code", undefined, {
        "Retry-After": String(Math.ceil(retryAfterMs / 1000)),
      });
    }
  }

  /** Counts the failure for the customer and the IP, then answers like every other bad code. */
  private async fail(scope: AuthScope, subjects: string[], nowMs: number): Promise<never> {
    const ip = subjects.find((s) => s.startsWith("ip:"))?.slice(3);
    if (this.risk && ip)
      await this.risk.observe(scope, "voucher_failure", await this.risk.subjectsOf(scope, { ip }), nowMs);
    await this.db.query(
      `insert into voucher_failures (merchant_id, mode, subject, window_start, failures)
       select $1, $2, unnest($3::text[]), $4, 1
       on conflict (merchant_id, mode, subject, window_start) do update set failures = voucher_failures.failures + 1`,
      [scope.merchantId, scope.mode, subjects, this.windowStart(nowMs)],
    );
    throw invalid();
  }

  /** Old failure windows are of no use: dropped by the worker. */
  async pruneFailures(nowMs: number): Promise<number> {
    const { rowCount } = await this.db.query("delete from voucher_failures where window_start < $1", [
      new Date(nowMs - 2 * FAILURE_WINDOW_MS),
    ]);
    return rowCount;
  }

  async get(q: Queryable, scope: AuthScope, id: string) {
    const { rows } = await q.query<RedemptionRow>(
      "select * from voucher_redemptions where id = $1 and merchant_id = $2 and mode = $3",
      [id, scope.merchantId, scope.mode],
    );
    if (!rows[0]) throw new ApiError("resource_missing", "id", `No such voucher redemption: '${id}'.`);
    return presentRedemption(rows[0]);
  }
}
