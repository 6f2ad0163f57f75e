import type { Commissions } from "../commissions/index.ts";
import type { Currencies } from "../currencies/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import type { Ledger, TransferInput } from "../ledger/index.ts";
import { accountId, movement } from "../ledger/index.ts";
import type { Memberships } from "../memberships/index.ts";
import type {
  PaymentExtensions,
  PaymentRequest,
  PaymentRow,
  PreparedPayment,
  RefundRow,
  Transition,
} from "../payments/index.ts";
import { ApiError } from "../platform/errors.ts";
import { GRANT_AMOUNT_MAX, toJsonAmount } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";
import { applyOrThrow, merchantAccount, type Wallets } from "../wallets/index.ts";

/** What a payment carries for us (`payments.effects`), decided when it is created. */
interface Effects {
  customer?: string;
  price?: string;
  product?: string;
  grants?: { entitlement: string; period: string };
  wallet_top_up?: { currency: string; amount?: number; rate?: string; grant?: string };
  commissions?: boolean;
}

interface PriceRow {
  id: string;
  product_id: string;
  amount: bigint;
  currency: string;
  active: boolean;
  grants: { entitlement: string; period: string } | null;
}

/**
 * The payment extensions of the community back office: wallet payments draw on wallets, top-ups
 * credit them, prices grant access, referred customers' payments accrue commissions, and refunds
 * undo each in proportion. All of it inside the payment's own transaction.
 */
export class CommunityPaymentEffects implements PaymentExtensions {
  constructor(
    private readonly db: Db,
    private readonly ledger: Ledger,
    private readonly currencies: Currencies,
    private readonly wallets: Wallets,
    private readonly memberships: Memberships,
    private readonly commissions: Commissions,
  ) {}

  async prepare(scope: AuthScope, input: PaymentRequest, nowMs: number): Promise<PreparedPayment> {
    const effects: Effects = {};
    let amount = input.amount;
    let currency = input.currency;
    if (input.price !== undefined) {
      const price = await this.price(scope, input.price);
      if (amount !== undefined && BigInt(amount) !== price.amount)
        throw new ApiError(
          "parameter_invalid",
          "amount",
          "A payment for a price takes the price's amount; leave amount out.",
        );
      if (currency !== undefined && currency !== price.currency)
        throw new ApiError(
          "parameter_invalid",
          "currency",
          "A payment for a price takes the price's currency; leave currency out.",
        );
      amount = Number(price.amount);
      currency = price.currency;
      effects.price = price.id;
      effects.product = price.product_id;
      if (price.grants) effects.grants = price.grants;
    }
    if (amount === undefined)
      throw new ApiError("parameter_missing", "amount", "amount is required (or a price).");
    if (currency === undefined)
      throw new ApiError("parameter_missing", "currency", "currency is required (or a price).");
    await this.currencies.requireDigits(this.db, scope, currency, "currency");
    const isWallet = input.payment_method.type === "wallet";
    if (!isWallet && (await this.currencies.isInner(this.db, scope, currency)))
      throw new ApiError(
        "payment_method_invalid",
        "payment_method.type",
        `${currency} is an inner currency: pay with {"type": "wallet"}.`,
      );
    const needsCustomer = isWallet || input.wallet_top_up !== undefined || effects.grants !== undefined;
    if (needsCustomer && input.customer === undefined)
      throw new ApiError(
        "parameter_missing",
        "customer",
        "This payment needs the customer whose wallet or access it changes.",
      );
    if (input.customer !== undefined) {
      effects.customer = input.customer;
      await this.customerExists(scope, input.customer);
    }
    if (isWallet) {
      if (input.wallet_top_up)
        throw new ApiError("parameter_invalid", "wallet_top_up", "A wallet cannot top itself up.");
      await this.wallets.ensureAccounts(scope, input.customer!, currency, nowMs);
    }
    if (input.wallet_top_up) {
      const target = input.wallet_top_up.currency;
      await this.currencies.requireDigits(this.db, scope, target, "wallet_top_up.currency");
      if (target === currency)
        throw new ApiError(
          "parameter_invalid",
          "wallet_top_up.currency",
          "A top-up converts into another currency.",
        );
      // Checked at the current rate before anyone is charged: a credit of nothing, or one past the
      // largest amount, would be a charge the wallet cannot honour.
      const { conversion } = await this.currencies.convertNow(
        this.db,
        scope,
        BigInt(amount),
        currency,
        target,
        "wallet_top_up.currency",
        nowMs,
      );
      if (conversion.targetAmount === 0n)
        throw new ApiError(
          "parameter_out_of_range",
          "amount",
          `At the current rate (1 ${currency} = ${conversion.rate} ${target}) this amount buys less than one unit of ${target}.`,
        );
      if (conversion.targetAmount > BigInt(GRANT_AMOUNT_MAX))
        throw new ApiError(
          "parameter_out_of_range",
          "amount",
          `At the current rate (1 ${currency} = ${conversion.rate} ${target}) this amount would credit more than ${GRANT_AMOUNT_MAX} minor units of ${target}, the most one grant holds.`,
        );
      await this.wallets.ensureAccounts(scope, input.customer!, target, nowMs);
      await this.ledger.ensureAccounts(
        [
          merchantAccount(scope, "available", currency),
          merchantAccount(scope, "conversion_residue", currency),
        ],
        nowMs,
      );
      effects.wallet_top_up = { currency: target };
    }
    if (input.customer !== undefined) {
      const found = await this.commissions.planAndChain(
        this.db,
        scope,
        input.customer,
        effects.product ?? null,
      );
      if (found) {
        effects.commissions = true;
        await this.commissions.ensureAccounts(
          scope,
          found.chain.map((c) => c.id),
          currency,
          nowMs,
        );
      }
    }
    const hasEffects = effects.wallet_top_up || effects.grants || effects.commissions || effects.price;
    return { amount, currency, effects: hasEffects ? (effects as Record<string, unknown>) : null };
  }

  needsTransaction(payment: PaymentRow): boolean {
    return payment.provider === "wallet" || (payment.effects ?? null) !== null;
  }

  async onTransition(tx: Queryable, transition: Transition, nowMs: number): Promise<boolean> {
    const p = transition.payment;
    const events = transition.events;
    // Our movements and the payment's own, written by one ledger call at the end.
    const out: TransferInput[] = [];
    if (p.provider === "wallet" && p.customer_id !== null) {
      const walletPayment = { ...p, customer_id: p.customer_id };
      if (events.includes("payment.requires_capture"))
        await this.wallets.draw(tx, walletPayment, true, nowMs, out);
      else if (events.includes("payment.succeeded")) {
        if (await this.wallets.hasDraws(tx, p.id))
          await this.wallets.capture(tx, p.id, p.amount_captured, nowMs, out);
        else await this.wallets.draw(tx, walletPayment, false, nowMs, out);
      } else if (events.includes("payment.canceled")) await this.wallets.release(tx, p.id, nowMs, out);
    }
    if (events.includes("payment.succeeded") && p.effects) {
      const effects = p.effects as Effects;
      const scope = { merchantId: p.merchant_id, mode: p.mode };
      if (effects.wallet_top_up && effects.customer) {
        await this.topUp(tx, p, effects.customer, effects.wallet_top_up, nowMs, out);
        await tx.query("update payments set effects = $2 where id = $1", [p.id, JSON.stringify(effects)]);
      }
      if (effects.grants && effects.customer)
        await this.memberships.grant(
          tx,
          scope,
          effects.customer,
          effects.grants,
          { kind: "payment", id: p.id },
          nowMs,
        );
      if (effects.commissions && effects.customer)
        await this.commissions.accrue(
          tx,
          { ...p, customer_id: effects.customer },
          effects.product ?? null,
          nowMs,
          out,
        );
    }
    if (out.length === 0) return false;
    await applyOrThrow(this.ledger, tx, [...transition.transfers, ...out], nowMs);
    return true;
  }

  /**
   * Converts what was captured at the current rate: the credit (rounded down) to the wallet as a
   * paid grant that records the rate, the part worth less than one inner unit to its own account.
   * `topUp` is the payment's effect object: the credited amount is written into it for the API.
   */
  private async topUp(
    tx: Queryable,
    p: PaymentRow,
    customer: string,
    topUp: NonNullable<Effects["wallet_top_up"]>,
    nowMs: number,
    out: TransferInput[],
  ) {
    const scope = { merchantId: p.merchant_id, mode: p.mode };
    const convertAt = (atMs: number) =>
      this.currencies.convertNow(
        tx,
        scope,
        p.amount_captured,
        p.currency,
        topUp.currency,
        "wallet_top_up.currency",
        atMs,
      );
    // The payer has paid: the credit cannot be refused now. When no rate is valid any more (or the
    // current one would credit past the largest amount), the rate current at the payment's
    // creation, which `prepare` checked, converts it.
    let converted = await convertAt(nowMs).catch((error: unknown) => {
      if (error instanceof ApiError) return null;
      throw error;
    });
    if (converted === null || converted.conversion.targetAmount > BigInt(GRANT_AMOUNT_MAX))
      converted = await convertAt(p.created.getTime());
    const { conversion, rateId } = converted;
    const record = {
      rate: conversion.rate,
      rate_id: rateId,
      from_currency: p.currency,
      source_amount: toJsonAmount(conversion.sourceAmount),
      source_converted: toJsonAmount(conversion.sourceConverted),
      source_residue: toJsonAmount(conversion.sourceResidue),
    };
    if (conversion.sourceResidue > 0n)
      out.push(
        movement({
          from: accountId(merchantAccount(scope, "available", p.currency)),
          to: accountId(merchantAccount(scope, "conversion_residue", p.currency)),
          amount: conversion.sourceResidue,
          currency: p.currency,
          code: "conversion_residue",
          reference: p.id,
          nowMs,
        }),
      );
    topUp.rate = conversion.rate;
    topUp.amount = toJsonAmount(conversion.targetAmount);
    if (conversion.targetAmount === 0n) return;
    const grant = await this.wallets.grant(
      tx,
      scope,
      {
        customer,
        currency: topUp.currency,
        amount: conversion.targetAmount,
        category: "paid",
        source: "top_up",
        sourceId: p.id,
        conversion: record,
      },
      nowMs,
      out,
    );
    topUp.grant = grant.id;
  }

  async onRefundSucceeded(
    tx: Queryable,
    payment: PaymentRow,
    refund: RefundRow,
    nowMs: number,
    out: TransferInput[],
  ) {
    const shown: Record<string, unknown> = {};
    const scope = { merchantId: payment.merchant_id, mode: payment.mode };
    if (payment.provider === "wallet" && payment.customer_id !== null) {
      const grant = await this.wallets.refundToWallet(
        tx,
        { ...payment, customer_id: payment.customer_id },
        refund,
        nowMs,
        out,
      );
      shown.wallet_credit = { currency: grant.currency, amount: toJsonAmount(grant.amount), grant: grant.id };
    }
    const effects = (payment.effects ?? {}) as Effects;
    const refundedTotal = payment.amount_refunded + refund.amount;
    if (effects.wallet_top_up) {
      const reversal = await this.wallets.takeBackTopUp(tx, payment, refund, nowMs, out);
      if (reversal) shown.wallet_top_up_reversal = reversal;
    }
    if (effects.grants) {
      const shortened = await this.memberships.takeBack(
        tx,
        scope,
        payment.id,
        refundedTotal,
        payment.amount_captured,
        nowMs,
      );
      if (shortened.length > 0) shown.entitlements = shortened;
    }
    if (effects.commissions) await this.commissions.onRefund(tx, payment, refundedTotal, nowMs, out);
    return Object.keys(shown).length > 0 ? shown : null;
  }

  private async price(scope: AuthScope, id: string): Promise<PriceRow> {
    const { rows } = await this.db.query<PriceRow>(
      "select id, product_id, amount, currency, active, grants from prices where id = $1 and merchant_id = $2 and mode = $3",
      [id, scope.merchantId, scope.mode],
    );
    const price = rows[0];
    if (!price) throw new ApiError("resource_missing", "price", `No such price: '${id}'.`);
    if (!price.active) throw new ApiError("parameter_invalid", "price", "This price is archived.");
    return price;
  }

  private async customerExists(scope: AuthScope, id: string) {
    const { rowCount } = await this.db.query(
      "select 1 from customers where id = $1 and merchant_id = $2 and mode = $3",
      [id, scope.merchantId, scope.mode],
    );
    if (rowCount === 0) throw new ApiError("resource_missing", "customer", `No such customer: '${id}'.`);
  }
}
