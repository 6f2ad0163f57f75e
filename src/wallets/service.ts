import { recordSystem } from "../audit/index.ts";
import { minBigint } from "../currencies/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import { eventRow } from "../events/index.ts";
import type { AccountSpec, Ledger, TransferInput } from "../ledger/index.ts";
import { accountId, movement } from "../ledger/index.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { toJsonAmount } from "../platform/money.ts";
import type { AuthScope, Mode } from "../platform/scope.ts";
import { expirySink, type GrantCategory, grantSource, walletAccount, walletClearing } from "./accounts.ts";
import { type Draw, drawDown, splitCapture } from "./drawdown.ts";

export type GrantSourceKind = "api" | "top_up" | "refund" | "voucher" | "commission";

export interface GrantRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  customer_id: string;
  currency: string;
  category: GrantCategory;
  amount: bigint;
  remaining: bigint;
  priority: number;
  expires_at: Date | null;
  source: GrantSourceKind;
  source_id: string | null;
  conversion: Record<string, unknown> | null;
  status: "active" | "depleted" | "expired" | "revoked";
  created: Date;
}

interface DrawRow {
  id: string;
  payment_id: string;
  grant_id: string;
  amount: bigint;
  transfer_id: string;
  status: "held" | "posted" | "released";
  amount_posted: bigint;
  category: GrantCategory;
  /** The grant's: where a released draw's amount goes back to. */
  grant_status: GrantRow["status"];
  merchant_id: string;
  mode: Mode;
  customer_id: string;
  currency: string;
}

export interface NewGrant {
  customer: string;
  currency: string;
  amount: bigint;
  category: GrantCategory;
  expiresAtMs?: number | null;
  priority?: number;
  source: GrantSourceKind;
  sourceId?: string | null;
  conversion?: Record<string, unknown> | null;
  /** Where the credit comes from; the category's usual source when absent. */
  from?: string;
}

export function presentGrant(g: GrantRow) {
  return {
    id: g.id,
    object: "wallet_grant" as const,
    created: iso(g.created.getTime()),
    customer: g.customer_id,
    currency: g.currency,
    category: g.category,
    amount: toJsonAmount(g.amount),
    remaining: toJsonAmount(g.remaining),
    priority: g.priority,
    expires_at: g.expires_at ? iso(g.expires_at.getTime()) : null,
    status: g.status,
    source: g.source,
    source_id: g.source_id,
    conversion: g.conversion,
  };
}

/** Runs a journal that must be accepted; `exceeds_credits` means a wallet would go below zero. */
export async function applyOrThrow(ledger: Ledger, tx: Queryable, transfers: TransferInput[], nowMs: number) {
  if (transfers.length === 0) return;
  const results = await ledger.apply(tx, transfers, { nowMs });
  const refused = results.find((r) => r !== "ok");
  if (refused === undefined) return;
  if (results.includes("exceeds_credits"))
    throw new ApiError("insufficient_funds", "amount", "The wallet does not hold enough for this.");
  throw new Error(`ledger refused a wallet movement: ${results.join(",")}`);
}

/**
 * Wallets: a customer's credit per currency as grants, drawn down in a documented order
 * (drawdown.ts), every movement on the ledger. Grant rows are locked in draw order, so concurrent
 * payments on one wallet run one after another and never take it below zero; the ledger's wallet
 * accounts refuse an overdraft as a second line of defence.
 */
export class Wallets {
  constructor(
    private readonly db: Db,
    readonly ledger: Ledger,
  ) {}

  /** Accounts of the merchant's side that a flow will touch, created before its transaction. */
  async ledgerAccounts(specs: readonly AccountSpec[], nowMs: number) {
    if (specs.length > 0) await this.ledger.ensureAccounts(specs, nowMs);
  }

  async requireCustomer(scope: AuthScope, id: string, param = "customer") {
    const { rowCount } = await this.db.query(
      "select 1 from customers where id = $1 and merchant_id = $2 and mode = $3",
      [id, scope.merchantId, scope.mode],
    );
    if (rowCount === 0) throw new ApiError("resource_missing", param, `No such customer: '${id}'.`);
  }

  /** Accounts a grant or a wallet payment will touch; created before the transaction that uses them. */
  async ensureAccounts(
    scope: { merchantId: string; mode: Mode },
    customer: string,
    currency: string,
    nowMs: number,
  ) {
    await this.ledger.ensureAccounts(
      [
        walletAccount(scope, customer, "paid", currency),
        walletAccount(scope, customer, "promotional", currency),
        grantSource(scope, "paid", currency),
        grantSource(scope, "promotional", currency),
        expirySink(scope, "paid", currency),
        walletClearing(scope, currency),
      ],
      nowMs,
    );
  }

  /** Adds credit to a wallet: a grant row and its ledger transfer, in the caller's transaction. */
  async grant(
    tx: Queryable,
    scope: { merchantId: string; mode: Mode },
    input: NewGrant,
    nowMs: number,
    out?: TransferInput[],
  ) {
    const row: GrantRow = {
      id: newId("wg", nowMs),
      merchant_id: scope.merchantId,
      mode: scope.mode,
      customer_id: input.customer,
      currency: input.currency,
      category: input.category,
      amount: input.amount,
      remaining: input.amount,
      priority: input.priority ?? 0,
      expires_at: input.expiresAtMs ? new Date(input.expiresAtMs) : null,
      source: input.source,
      source_id: input.sourceId ?? null,
      conversion: input.conversion ?? null,
      status: "active",
      created: new Date(nowMs),
    };
    await tx.query(
      `insert into wallet_grants select * from json_populate_record(null::wallet_grants, $1::json)`,
      [
        JSON.stringify({
          ...row,
          amount: row.amount.toString(),
          remaining: row.remaining.toString(),
          expires_at: row.expires_at?.toISOString() ?? null,
          created: row.created.toISOString(),
        }),
      ],
    );
    await this.write(
      tx,
      [
        movement({
          from: input.from ?? accountId(grantSource(scope, input.category, input.currency)),
          to: accountId(walletAccount(scope, input.customer, input.category, input.currency)),
          amount: input.amount,
          currency: input.currency,
          code: `wallet_grant_${input.source}`,
          reference: row.id,
          nowMs,
        }),
      ],
      nowMs,
      out,
    );
    return row;
  }

  /**
   * Draws a wallet payment's amount from the customer's grants: one ledger transfer per grant
   * consumed (a hold when the payment is only authorized). Throws `insufficient_funds` when short.
   */
  async draw(
    tx: Queryable,
    payment: {
      id: string;
      merchant_id: string;
      mode: Mode;
      customer_id: string;
      currency: string;
      amount: bigint;
    },
    hold: boolean,
    nowMs: number,
    out?: TransferInput[],
  ): Promise<Draw[]> {
    const scope = { merchantId: payment.merchant_id, mode: payment.mode };
    const { rows } = await tx.query<GrantRow>(
      `select * from wallet_grants
       where customer_id = $1 and currency = $2 and status = 'active' and merchant_id = $3 and mode = $4
       order by id for update`,
      [payment.customer_id, payment.currency, payment.merchant_id, payment.mode],
    );
    const draws = drawDown(
      rows.map((g) => ({
        id: g.id,
        category: g.category,
        remaining: g.remaining,
        priority: g.priority,
        expiresAtMs: g.expires_at?.getTime() ?? null,
      })),
      payment.amount,
      nowMs,
    );
    if (!draws)
      throw new ApiError("insufficient_funds", "amount", "The wallet does not hold enough to pay this.");
    const journalId = newId("jrn", nowMs);
    const clearing = accountId(walletClearing(scope, payment.currency));
    const transfers: TransferInput[] = [];
    const drawRows = draws.map((d) => {
      const transferId = newId("tr", nowMs);
      transfers.push({
        id: transferId,
        journalId,
        type: hold ? "pending" : "single_phase",
        debitAccountId: accountId(walletAccount(scope, payment.customer_id, d.category, payment.currency)),
        creditAccountId: clearing,
        amount: d.amount,
        currency: payment.currency,
        code: hold ? "wallet_hold" : "wallet_spend",
        reference: d.grantId,
      });
      return {
        id: newId("wd", nowMs),
        merchant_id: payment.merchant_id,
        mode: payment.mode,
        payment_id: payment.id,
        grant_id: d.grantId,
        amount: d.amount.toString(),
        transfer_id: transferId,
        status: hold ? "held" : "posted",
        amount_posted: hold ? "0" : d.amount.toString(),
        amount_refunded: "0",
        created: new Date(nowMs).toISOString(),
      };
    });
    await this.takeFromGrants(tx, draws);
    await tx.query(
      "insert into wallet_draws select * from json_populate_recordset(null::wallet_draws, $1::json)",
      [JSON.stringify(drawRows)],
    );
    await this.write(tx, transfers, nowMs, out);
    return draws;
  }

  private async takeFromGrants(tx: Queryable, draws: readonly { grantId: string; amount: bigint }[]) {
    await tx.query(
      `update wallet_grants g set remaining = g.remaining - d.amount,
         status = case when g.remaining - d.amount = 0 then 'depleted' else g.status end
       from (select unnest($1::text[]) as id, unnest($2::bigint[]) as amount) d where g.id = d.id`,
      [draws.map((d) => d.grantId), draws.map((d) => d.amount.toString())],
    );
  }

  /**
   * Gives back to grants what a released hold had taken. A grant the expiry job already closed
   * becomes active again with what came back, so the job sweeps that too (it is never drawn on:
   * its `expires_at` has passed); left `expired`, the credit stayed on the wallet account for ever.
   */
  private async returnToGrants(tx: Queryable, back: readonly { grantId: string; amount: bigint }[]) {
    if (back.length === 0) return;
    await tx.query(
      `update wallet_grants g set remaining = g.remaining + d.amount,
         status = case when g.status in ('depleted', 'expired') then 'active' else g.status end
       from (select unnest($1::text[]) as id, unnest($2::bigint[]) as amount) d where g.id = d.id`,
      [back.map((d) => d.grantId), back.map((d) => d.amount.toString())],
    );
  }

  private async heldDraws(tx: Queryable, paymentId: string): Promise<DrawRow[]> {
    const { rows } = await tx.query<DrawRow>(
      `select d.*, g.category, g.status as grant_status, g.merchant_id, g.mode, g.customer_id, g.currency
       from wallet_draws d join wallet_grants g on g.id = d.grant_id
       where d.payment_id = $1 and d.status = 'held' order by d.id for update of d`,
      [paymentId],
    );
    return rows;
  }

  async hasDraws(tx: Queryable, paymentId: string): Promise<boolean> {
    const { rowCount } = await tx.query("select 1 from wallet_draws where payment_id = $1 limit 1", [
      paymentId,
    ]);
    return rowCount > 0;
  }

  /** Posts held draws up to the captured amount, in draw order; the rest goes back to its grants. */
  async capture(tx: Queryable, paymentId: string, amount: bigint, nowMs: number, out?: TransferInput[]) {
    const held = await this.heldDraws(tx, paymentId);
    const parts = splitCapture(held, amount);
    const journalId = newId("jrn", nowMs);
    const transfers: TransferInput[] = [];
    const back: { grantId: string; amount: bigint }[] = [];
    held.forEach((d, i) => {
      const posted = parts[i]!;
      transfers.push(
        posted > 0n
          ? {
              id: newId("tr", nowMs),
              journalId,
              type: "post_pending",
              pendingId: d.transfer_id,
              amount: posted,
              code: "wallet_capture",
              reference: d.grant_id,
            }
          : {
              id: newId("tr", nowMs),
              journalId,
              type: "void_pending",
              pendingId: d.transfer_id,
              code: "wallet_release",
              reference: d.grant_id,
            },
      );
      if (d.amount <= posted) return;
      if (d.grant_status !== "revoked") {
        back.push({ grantId: d.grant_id, amount: d.amount - posted });
        return;
      }
      // A refunded top-up's grant: the refund took back all it could and reported the held part as
      // not taken back. Now that the hold lets go of it, it is taken back (it stayed on the
      // wallet account, spendable by nobody).
      const scope = { merchantId: d.merchant_id, mode: d.mode };
      transfers.push(
        movement({
          from: accountId(walletAccount(scope, d.customer_id, "paid", d.currency)),
          to: accountId(grantSource(scope, "paid", d.currency)),
          amount: d.amount - posted,
          currency: d.currency,
          code: "wallet_top_up_reversal",
          reference: d.grant_id,
          nowMs,
        }),
      );
    });
    await this.write(tx, transfers, nowMs, out);
    await this.returnToGrants(tx, back);
    await tx.query(
      `update wallet_draws w set status = case when p.posted > 0 then 'posted' else 'released' end, amount_posted = p.posted
       from (select unnest($1::text[]) as id, unnest($2::bigint[]) as posted) p where w.id = p.id`,
      [held.map((d) => d.id), parts.map((p) => p.toString())],
    );
  }

  /** Voids a cancelled (or expired) wallet authorization: every held draw goes back to its grant. */
  async release(tx: Queryable, paymentId: string, nowMs: number, out?: TransferInput[]) {
    await this.capture(tx, paymentId, 0n, nowMs, out);
  }

  /**
   * Applies a flow's transfers now, or hands them to `out` when the caller writes one journal for
   * its whole transaction: balance rows are then locked by one sorted statement, so two such
   * transactions can never hold each other's rows.
   */
  private async write(tx: Queryable, transfers: TransferInput[], nowMs: number, out?: TransferInput[]) {
    if (out) out.push(...transfers);
    else await applyOrThrow(this.ledger, tx, transfers, nowMs);
  }

  /** A refunded wallet payment comes back to the wallet as paid credit. */
  async refundToWallet(
    tx: Queryable,
    payment: { id: string; merchant_id: string; mode: Mode; customer_id: string; currency: string },
    refund: { id: string; amount: bigint },
    nowMs: number,
    out?: TransferInput[],
  ) {
    const scope = { merchantId: payment.merchant_id, mode: payment.mode };
    return this.grant(
      tx,
      scope,
      {
        customer: payment.customer_id,
        currency: payment.currency,
        amount: refund.amount,
        category: "paid",
        source: "refund",
        sourceId: refund.id,
        // The refund put the money back on the wallet clearing account: from there to the wallet.
        from: accountId(walletClearing(scope, payment.currency)),
      },
      nowMs,
      out,
    );
  }

  /**
   * A refund of a top-up takes back the credit it bought, in proportion to the refunded amount,
   * as far as it is unspent; what was spent already cannot be taken back and is reported.
   */
  async takeBackTopUp(
    tx: Queryable,
    payment: { id: string; merchant_id: string; mode: Mode; amount: bigint },
    refund: { id: string; amount: bigint },
    nowMs: number,
    out?: TransferInput[],
  ) {
    const { rows } = await tx.query<GrantRow>(
      "select * from wallet_grants where source_id = $1 and source = 'top_up' for update",
      [payment.id],
    );
    const grant = rows[0];
    if (!grant) return null;
    const { rows: earlier } = await tx.query<{ owed: bigint }>(
      `select coalesce(sum((effects->'wallet_top_up_reversal'->>'amount_requested')::bigint), 0)::bigint as owed
       from refunds where payment_id = $1 and status = 'succeeded'`,
      [payment.id],
    );
    // Cumulative, so partial refunds that add up to the whole take back exactly the whole grant.
    const refundedBefore = await this.refundedBefore(tx, payment.id, refund.id);
    const owedTotal = (grant.amount * (refundedBefore + refund.amount)) / payment.amount;
    const requested = owedTotal - earlier[0]!.owed;
    const taken = minBigint(requested, grant.remaining);
    if (taken > 0n) {
      await tx.query(
        `update wallet_grants set remaining = remaining - $2,
           status = case when remaining - $2 = 0 then 'revoked' else status end where id = $1`,
        [grant.id, taken.toString()],
      );
      const scope = { merchantId: grant.merchant_id, mode: grant.mode };
      await this.write(
        tx,
        [
          movement({
            from: accountId(walletAccount(scope, grant.customer_id, "paid", grant.currency)),
            to: accountId(grantSource(scope, "paid", grant.currency)),
            amount: taken,
            currency: grant.currency,
            code: "wallet_top_up_reversal",
            reference: refund.id,
            nowMs,
          }),
        ],
        nowMs,
        out,
      );
    }
    return {
      currency: grant.currency,
      amount_requested: toJsonAmount(requested),
      amount_taken_back: toJsonAmount(taken),
      amount_not_taken_back: toJsonAmount(requested - taken),
    };
  }

  private async refundedBefore(tx: Queryable, paymentId: string, refundId: string): Promise<bigint> {
    const { rows } = await tx.query<{ total: bigint }>(
      "select coalesce(sum(amount), 0)::bigint as total from refunds where payment_id = $1 and status = 'succeeded' and id <> $2",
      [paymentId, refundId],
    );
    return rows[0]!.total;
  }

  /**
   * Expired grants leave their wallets: paid credit into breakage, promotional credit back to the
   * promotion account. Claims a batch with SKIP LOCKED, so several workers share the work.
   */
  async expireDue(nowMs: number, limit = 100): Promise<number> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<GrantRow>(
        `select * from wallet_grants where status = 'active' and expires_at <= $1
         order by expires_at limit $2 for update skip locked`,
        [new Date(nowMs), limit],
      );
      if (rows.length === 0) return 0;
      const transfers: TransferInput[] = [];
      const events = [];
      for (const g of rows) {
        const scope = { merchantId: g.merchant_id, mode: g.mode };
        if (g.remaining > 0n)
          transfers.push(
            movement({
              from: accountId(walletAccount(scope, g.customer_id, g.category, g.currency)),
              to: accountId(expirySink(scope, g.category, g.currency)),
              amount: g.remaining,
              currency: g.currency,
              code: g.category === "paid" ? "wallet_breakage" : "wallet_promotion_reversal",
              reference: g.id,
              nowMs,
            }),
          );
        events.push(
          eventRow({
            merchantId: g.merchant_id,
            mode: g.mode,
            type: "wallet_grant.expired",
            objectId: g.id,
            object: presentGrant({ ...g, status: "expired", remaining: 0n }),
            nowMs,
          }),
        );
      }
      await applyOrThrow(this.ledger, tx, transfers, nowMs);
      await tx.query(
        "update wallet_grants set status = 'expired', remaining = 0 where id = any($1::text[])",
        [rows.map((g) => g.id)],
      );
      await recordSystem(
        tx,
        "wallet_grant_expiry",
        rows.map((g) => ({
          action: "wallet_grants.expire",
          object: g.id,
          merchantId: g.merchant_id,
          mode: g.mode,
          changes: {
            status: { from: "active", to: "expired" },
            remaining: { from: g.remaining.toString(), to: "0" },
            currency: g.currency,
          },
        })),
        nowMs,
      );
      await tx.query("insert into events select * from json_populate_recordset(null::events, $1::json)", [
        JSON.stringify(events),
      ]);
      return rows.length;
    });
  }

  /** Every wallet of a customer: balance per currency and the grants that make it. */
  async list(scope: AuthScope, customerId: string, nowMs: number) {
    const { rows } = await this.db.query<GrantRow>(
      `select * from wallet_grants where customer_id = $1 and merchant_id = $2 and mode = $3
         and (status = 'active' or id in (
           select max(id) from wallet_grants where customer_id = $1 and merchant_id = $2 and mode = $3 group by currency))
       order by currency, id`,
      [customerId, scope.merchantId, scope.mode],
    );
    const byCurrency = new Map<string, GrantRow[]>();
    for (const g of rows) byCurrency.set(g.currency, [...(byCurrency.get(g.currency) ?? []), g]);
    return [...byCurrency].map(([currency, grants]) => {
      const spendable = grants.filter(
        (g) => g.status === "active" && (g.expires_at === null || g.expires_at.getTime() > nowMs),
      );
      const balance = spendable.reduce((sum, g) => sum + g.remaining, 0n);
      return {
        object: "wallet" as const,
        customer: customerId,
        currency,
        balance: toJsonAmount(balance),
        grants: spendable.map(presentGrant),
      };
    });
  }
}
