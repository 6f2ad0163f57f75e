import { recordSystem } from "../audit/index.ts";
import { isDecimal, minBigint } from "../currencies/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import type { AccountSpec, Ledger, TransferInput } from "../ledger/index.ts";
import { accountId, movement } from "../ledger/index.ts";
import { DAY_MS, iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { toJsonAmount } from "../platform/money.ts";
import type { AuthScope, Mode } from "../platform/scope.ts";
import { applyOrThrow } from "../wallets/index.ts";
import { type LevelPercent, splitCommission, totalPercentWithin100 } from "./split.ts";

export const COMMISSION_STATUSES = ["pending", "approved", "paid", "reversed"] as const;
export type CommissionStatus = (typeof COMMISSION_STATUSES)[number];

interface PlanRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  levels: LevelPercent[];
  hold_days: number;
  max_depth: number;
  product_id: string | null;
  active: boolean;
  created: Date;
}

export interface CommissionRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  plan_id: string;
  payment_id: string;
  affiliate_id: string;
  customer_id: string;
  level: number;
  percent: string;
  amount: bigint;
  currency: string;
  status: CommissionStatus;
  hold_until: Date;
  hold_transfer_id: string;
  paid_via: string | null;
  created: Date;
  updated: Date;
}

type Scope = { merchantId: string; mode: Mode };

/** An affiliate's commissions: owed to them once approved. */
export function commissionAccount(scope: Scope, affiliate: string, currency: string): AccountSpec {
  return {
    merchantId: scope.merchantId,
    mode: scope.mode,
    ownerId: affiliate,
    purpose: "commission",
    currency,
  };
}

function merchantAccount(scope: Scope, purpose: string, currency: string): AccountSpec {
  return { merchantId: scope.merchantId, mode: scope.mode, ownerId: scope.merchantId, purpose, currency };
}

export function presentPlan(p: PlanRow) {
  return {
    id: p.id,
    object: "commission_plan" as const,
    created: iso(p.created.getTime()),
    levels: p.levels,
    hold_days: p.hold_days,
    max_depth: p.max_depth,
    product: p.product_id,
    active: p.active,
  };
}

export function presentCommission(c: CommissionRow) {
  return {
    id: c.id,
    object: "commission" as const,
    created: iso(c.created.getTime()),
    affiliate: c.affiliate_id,
    customer: c.customer_id,
    payment: c.payment_id,
    plan: c.plan_id,
    level: c.level,
    percent: c.percent,
    amount: toJsonAmount(c.amount),
    currency: c.currency,
    status: c.status,
    hold_until: iso(c.hold_until.getTime()),
    paid_via: c.paid_via,
  };
}

/**
 * Affiliate commissions over several levels. A successful payment by a referred customer accrues
 * one commission per ancestor up to the plan's depth, each a pending ledger transfer (merchant
 * available to the affiliate's commission account) held for the plan's hold period. A refund
 * inside the hold voids (or shrinks) them; after it, a negative commission is booked. Approved
 * commissions are paid into the affiliate's wallet or recorded as paid outside.
 */
export class Commissions {
  constructor(
    private readonly db: Db,
    private readonly ledger: Ledger,
  ) {}

  async createPlan(
    q: Queryable,
    scope: AuthScope,
    input: { levels: LevelPercent[]; hold_days: number; max_depth: number; product?: string },
    nowMs: number,
  ) {
    const seen = new Set<number>();
    input.levels.forEach((l, i) => {
      if (!isDecimal(l.percent))
        throw new ApiError(
          "parameter_invalid",
          `levels[${i}].percent`,
          'A percent is a decimal string such as "10" or "2.5".',
        );
      if (l.level > input.max_depth)
        throw new ApiError("parameter_invalid", `levels[${i}].level`, "A level is at most max_depth.");
      if (seen.has(l.level))
        throw new ApiError("parameter_invalid", `levels[${i}].level`, "Each level appears once.");
      seen.add(l.level);
    });
    if (!totalPercentWithin100(input.levels))
      throw new ApiError("parameter_invalid", "levels", "The levels' percents add up to at most 100.");
    if (input.product !== undefined) {
      const { rowCount } = await q.query(
        "select 1 from products where id = $1 and merchant_id = $2 and mode = $3",
        [input.product, scope.merchantId, scope.mode],
      );
      if (rowCount === 0)
        throw new ApiError("resource_missing", "product", `No such product: '${input.product}'.`);
    }
    const row: PlanRow = {
      id: newId("cplan", nowMs),
      merchant_id: scope.merchantId,
      mode: scope.mode,
      levels: [...input.levels].sort((a, b) => a.level - b.level),
      hold_days: input.hold_days,
      max_depth: input.max_depth,
      product_id: input.product ?? null,
      active: true,
      created: new Date(nowMs),
    };
    // The newest plan for the same product (or for all) replaces the one before.
    await q.query(
      "update commission_plans set active = false where merchant_id = $1 and mode = $2 and product_id is not distinct from $3 and active",
      [scope.merchantId, scope.mode, row.product_id],
    );
    await q.query(
      `insert into commission_plans (id, merchant_id, mode, levels, hold_days, max_depth, product_id, active, created)
       values ($1, $2, $3, $4, $5, $6, $7, true, $8)`,
      [
        row.id,
        row.merchant_id,
        row.mode,
        JSON.stringify(row.levels),
        row.hold_days,
        row.max_depth,
        row.product_id,
        row.created,
      ],
    );
    return presentPlan(row);
  }

  /** The plan for a payment (the product's own, else the general one) and the customer's referrers. */
  async planAndChain(q: Queryable, scope: Scope, customer: string, productId: string | null) {
    const { rows: plans } = await q.query<PlanRow>(
      `select * from commission_plans where merchant_id = $1 and mode = $2 and active
         and (product_id is null or product_id = $3)
       order by product_id is null, id desc limit 1`,
      [scope.merchantId, scope.mode, productId],
    );
    const plan = plans[0];
    if (!plan) return null;
    // Walks up the referral chain by primary key, at most max_depth steps: bounded whatever the tree.
    const { rows: chain } = await q.query<{ id: string; depth: number }>(
      `with recursive chain (id, referred_by, depth) as (
         select id, referred_by, 0 from customers where id = $1 and merchant_id = $2 and mode = $3
         union all
         select c.id, c.referred_by, chain.depth + 1 from customers c join chain on c.id = chain.referred_by
         where chain.depth < $4)
       select id, depth from chain where depth > 0 order by depth`,
      [customer, scope.merchantId, scope.mode, plan.max_depth],
    );
    if (chain.length === 0) return null;
    return { plan, chain };
  }

  async ensureAccounts(scope: Scope, affiliates: readonly string[], currency: string, nowMs: number) {
    await this.ledger.ensureAccounts(
      [
        ...affiliates.map((a) => commissionAccount(scope, a, currency)),
        merchantAccount(scope, "available", currency),
        merchantAccount(scope, "commission_residue", currency),
        merchantAccount(scope, "commission_paid_out", currency),
      ],
      nowMs,
    );
  }

  /** Accrues a succeeded payment's commissions, inside the payment's transaction. */
  async accrue(
    tx: Queryable,
    payment: {
      id: string;
      merchant_id: string;
      mode: Mode;
      customer_id: string;
      currency: string;
      amount_captured: bigint;
    },
    productId: string | null,
    nowMs: number,
    out?: TransferInput[],
  ): Promise<number> {
    const scope = { merchantId: payment.merchant_id, mode: payment.mode };
    const found = await this.planAndChain(tx, scope, payment.customer_id, productId);
    if (!found) return 0;
    const { plan, chain } = found;
    const split = splitCommission(payment.amount_captured, plan.levels, chain.length);
    const journalId = newId("jrn", nowMs);
    const transfers: TransferInput[] = [];
    const rows: Record<string, unknown>[] = [];
    const available = accountId(merchantAccount(scope, "available", payment.currency));
    const holdUntil = new Date(nowMs + plan.hold_days * DAY_MS);
    for (const { level, amount } of split.levels) {
      if (amount === 0n) continue;
      const affiliate = chain[level - 1]!.id;
      const transferId = newId("tr", nowMs);
      transfers.push({
        id: transferId,
        journalId,
        type: "pending",
        debitAccountId: available,
        creditAccountId: accountId(commissionAccount(scope, affiliate, payment.currency)),
        amount,
        currency: payment.currency,
        code: "commission_accrual",
        reference: payment.id,
      });
      rows.push({
        id: newId("com", nowMs),
        merchant_id: scope.merchantId,
        mode: scope.mode,
        plan_id: plan.id,
        payment_id: payment.id,
        affiliate_id: affiliate,
        customer_id: payment.customer_id,
        level,
        percent: plan.levels.find((l) => l.level === level)!.percent,
        amount: amount.toString(),
        currency: payment.currency,
        status: "pending",
        hold_until: holdUntil.toISOString(),
        hold_transfer_id: transferId,
        paid_via: null,
        created: new Date(nowMs).toISOString(),
        updated: new Date(nowMs).toISOString(),
      });
    }
    if (split.residue > 0n)
      transfers.push(
        movement({
          from: available,
          to: accountId(merchantAccount(scope, "commission_residue", payment.currency)),
          amount: split.residue,
          currency: payment.currency,
          code: "commission_residue",
          reference: payment.id,
          nowMs,
          journalId,
        }),
      );
    if (rows.length > 0)
      await tx.query(
        "insert into commissions select * from json_populate_recordset(null::commissions, $1::json)",
        [JSON.stringify(rows)],
      );
    if (out) out.push(...transfers);
    else await applyOrThrow(this.ledger, tx, transfers, nowMs);
    return rows.length;
  }

  /**
   * A refund cuts each commission of the payment to its share of what is left captured. Inside the
   * hold the pending transfer is voided (and a smaller one held, if anything is left); after it, a
   * negative commission moves the difference back from the affiliate.
   */
  async onRefund(
    tx: Queryable,
    payment: { id: string; amount_captured: bigint },
    refundedTotal: bigint,
    nowMs: number,
    out?: TransferInput[],
  ) {
    const { rows } = await tx.query<CommissionRow>(
      "select * from commissions where payment_id = $1 and status <> 'reversed' order by id for update",
      [payment.id],
    );
    for (const c of rows) {
      const scope = { merchantId: c.merchant_id, mode: c.mode };
      const left = payment.amount_captured - refundedTotal;
      const percentShare = splitCommission(left, [{ level: 1, percent: c.percent }], 1).levels[0]!.amount;
      const keep = minBigint(percentShare, c.amount);
      const cut = c.amount - keep;
      if (cut === 0n) continue;
      const journalId = newId("jrn", nowMs);
      const transfers: TransferInput[] = [];
      let holdTransferId = c.hold_transfer_id;
      if (c.status === "pending") {
        transfers.push({
          id: newId("tr", nowMs),
          journalId,
          type: "void_pending",
          pendingId: c.hold_transfer_id,
          code: "commission_void",
          reference: c.id,
        });
        if (keep > 0n) {
          holdTransferId = newId("tr", nowMs);
          transfers.push({
            id: holdTransferId,
            journalId,
            type: "pending",
            debitAccountId: accountId(merchantAccount(scope, "available", c.currency)),
            creditAccountId: accountId(commissionAccount(scope, c.affiliate_id, c.currency)),
            amount: keep,
            currency: c.currency,
            code: "commission_accrual",
            reference: c.payment_id,
          });
        }
      } else {
        transfers.push(
          movement({
            from: accountId(commissionAccount(scope, c.affiliate_id, c.currency)),
            to: accountId(merchantAccount(scope, "available", c.currency)),
            amount: cut,
            currency: c.currency,
            code: "commission_reversal",
            reference: c.id,
            nowMs,
            journalId,
          }),
        );
      }
      if (out) out.push(...transfers);
      else await applyOrThrow(this.ledger, tx, transfers, nowMs);
      await tx.query(
        `update commissions set amount = $2, status = $3, hold_transfer_id = $4, updated = $5 where id = $1`,
        [
          c.id,
          (keep > 0n ? keep : c.amount).toString(),
          keep > 0n ? c.status : "reversed",
          holdTransferId,
          new Date(nowMs),
        ],
      );
    }
  }

  /** Approves commissions whose hold has passed: their pending transfers are posted. */
  async approveDue(nowMs: number, limit = 500): Promise<number> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<CommissionRow>(
        `select * from commissions where status = 'pending' and hold_until <= $1
         order by hold_until limit $2 for update skip locked`,
        [new Date(nowMs), limit],
      );
      if (rows.length === 0) return 0;
      await applyOrThrow(
        this.ledger,
        tx,
        rows.map((c) => ({
          id: newId("tr", nowMs),
          journalId: newId("jrn", nowMs),
          type: "post_pending" as const,
          pendingId: c.hold_transfer_id,
          code: "commission_approval",
          reference: c.id,
        })),
        nowMs,
      );
      await tx.query("update commissions set status = 'approved', updated = $2 where id = any($1::text[])", [
        rows.map((c) => c.id),
        new Date(nowMs),
      ]);
      await recordSystem(
        tx,
        "commission_approval",
        rows.map((c) => ({
          action: "commissions.approve",
          object: c.id,
          merchantId: c.merchant_id,
          mode: c.mode,
          changes: {
            status: { from: "pending", to: "approved" },
            amount: c.amount.toString(),
            currency: c.currency,
          },
        })),
        nowMs,
      );
      return rows.length;
    });
  }

  async currenciesOf(scope: AuthScope, affiliate: string): Promise<string[]> {
    const { rows } = await this.db.query<{ currency: string }>(
      "select distinct currency from commissions where merchant_id = $1 and mode = $2 and affiliate_id = $3",
      [scope.merchantId, scope.mode, affiliate],
    );
    return rows.map((r) => r.currency);
  }

  /** Approved commissions of one affiliate, locked for a payout. */
  async approvedFor(tx: Queryable, scope: AuthScope, affiliate: string): Promise<CommissionRow[]> {
    const { rows } = await tx.query<CommissionRow>(
      `select * from commissions where merchant_id = $1 and mode = $2 and affiliate_id = $3 and status = 'approved'
       order by id for update`,
      [scope.merchantId, scope.mode, affiliate],
    );
    return rows;
  }

  /** Marks commissions paid and moves their total out of the affiliate's commission account. */
  async markPaid(
    tx: Queryable,
    scope: AuthScope,
    affiliate: string,
    rows: readonly CommissionRow[],
    via: "wallet" | "external",
    to: (currency: string) => string,
    nowMs: number,
  ) {
    const totals = new Map<string, bigint>();
    for (const c of rows) totals.set(c.currency, (totals.get(c.currency) ?? 0n) + c.amount);
    const journalId = newId("jrn", nowMs);
    await applyOrThrow(
      this.ledger,
      tx,
      [...totals].map(([currency, amount]) =>
        movement({
          from: accountId(commissionAccount(scope, affiliate, currency)),
          to: to(currency),
          amount,
          currency,
          code: `commission_payout_${via}`,
          reference: affiliate,
          nowMs,
          journalId,
        }),
      ),
      nowMs,
    );
    await tx.query(
      "update commissions set status = 'paid', paid_via = $2, updated = $3 where id = any($1::text[])",
      [rows.map((c) => c.id), via, new Date(nowMs)],
    );
    return totals;
  }

  async list(scope: AuthScope, filter: { affiliate?: string; status?: CommissionStatus }, page: ListParams) {
    const where = ["merchant_id = $1", "mode = $2"];
    const params: unknown[] = [scope.merchantId, scope.mode];
    if (filter.affiliate) {
      params.push(filter.affiliate);
      where.push(`affiliate_id = $${params.length}`);
    }
    if (filter.status) {
      params.push(filter.status);
      where.push(`status = $${params.length}`);
    }
    const result = await listPage<CommissionRow>(this.db, "commissions", where, params, page);
    return { rows: result.rows.map(presentCommission), hasMore: result.hasMore };
  }

  /** An affiliate's statement: totals per currency and status, and the commissions behind them. */
  async statement(scope: AuthScope, affiliate: string) {
    const { rows } = await this.db.query<{
      currency: string;
      status: CommissionStatus;
      total: bigint;
      count: bigint;
    }>(
      `select currency, status, sum(amount)::bigint as total, count(*)::bigint as count from commissions
       where merchant_id = $1 and mode = $2 and affiliate_id = $3 group by currency, status order by currency, status`,
      [scope.merchantId, scope.mode, affiliate],
    );
    const byCurrency = new Map<string, Record<string, number>>();
    for (const r of rows) {
      const entry = byCurrency.get(r.currency) ?? { pending: 0, approved: 0, paid: 0, reversed: 0 };
      entry[r.status] = toJsonAmount(r.total);
      byCurrency.set(r.currency, entry);
    }
    const { rows: recent } = await this.db.query<CommissionRow>(
      `select * from commissions where merchant_id = $1 and mode = $2 and affiliate_id = $3 order by id desc limit 100`,
      [scope.merchantId, scope.mode, affiliate],
    );
    return {
      object: "commission_statement" as const,
      affiliate,
      totals: [...byCurrency].map(([currency, t]) => ({ currency, ...t })),
      commissions: recent.map(presentCommission),
    };
  }
}
