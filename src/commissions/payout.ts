import type { FastifyReply, FastifyRequest } from "fastify";
import type { RouteContext } from "../community/routing.ts";
import type { Currencies } from "../currencies/index.ts";
import type { Queryable } from "../db/db.ts";
import { accountId, movement } from "../ledger/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { toJsonAmount } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";
import { applyOrThrow, merchantAccount, presentGrant, type Wallets } from "../wallets/index.ts";
import type { Commissions } from "./service.ts";

export interface PayoutArguments {
  affiliate: string;
  method: "wallet" | "external";
  currency?: string;
}

type PayoutDeps = { commissions: Commissions; wallets: Wallets; currencies: Currencies; clock: Clock };

/**
 * Pays an affiliate's approved commissions: out of their commission account to the merchant's
 * `commission_paid_out`, and, for a wallet payout, converted at the current rate into a paid
 * grant of the wallet's currency (the residue on its own account, as for top-ups).
 */
export async function payOut(
  ctx: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  scope: AuthScope,
  body: PayoutArguments,
  deps: PayoutDeps,
) {
  await preparePayout(scope, body, deps, deps.clock.nowMs());
  return ctx.post(request, reply, scope, async (tx, now) => ({
    statusCode: 201,
    body: JSON.stringify(await payOutIn(tx, scope, body, deps, now)),
  }));
}

/** Checks the request and creates, before any transaction, the ledger accounts a payout uses. */
export async function preparePayout(
  scope: AuthScope,
  body: PayoutArguments,
  deps: PayoutDeps,
  nowMs: number,
): Promise<void> {
  const { commissions, wallets, currencies } = deps;
  await wallets.requireCustomer(scope, body.affiliate, "affiliate");
  if (body.method === "wallet") {
    if (!body.currency)
      throw new ApiError("parameter_missing", "currency", "A wallet payout names the wallet's currency.");
    await currencies.requireDigits(currencies.db, scope, body.currency, "currency");
    await wallets.ensureAccounts(scope, body.affiliate, body.currency, nowMs);
  }
  // Accounts are created before the transaction: for every currency the affiliate earns in.
  const sources = await commissions.currenciesOf(scope, body.affiliate);
  await wallets.ledgerAccounts(
    sources.flatMap((s) => [
      merchantAccount(scope, "conversion_residue", s),
      { ...merchantAccount(scope, "available", s), purpose: "commission_paid_out" },
    ]),
    nowMs,
  );
}

/** The payout itself, in the caller's transaction (a request's, or an approval's). */
export async function payOutIn(
  tx: Queryable,
  scope: AuthScope,
  body: PayoutArguments,
  deps: PayoutDeps,
  now: number,
) {
  const { commissions, wallets, currencies } = deps;
  const rows = await commissions.approvedFor(tx, scope, body.affiliate);
  const paidOut = (currency: string) =>
    accountId({ ...merchantAccount(scope, "available", currency), purpose: "commission_paid_out" });
  const totals =
    rows.length > 0
      ? await commissions.markPaid(tx, scope, body.affiliate, rows, body.method, paidOut, now)
      : new Map<string, bigint>();
  const grants = [];
  if (body.method === "wallet") {
    for (const [source, amount] of totals) {
      let credited = amount;
      let conversion: Record<string, unknown> | null = null;
      if (source !== body.currency) {
        const converted = await currencies.convertNow(
          tx,
          scope,
          amount,
          source,
          body.currency!,
          "currency",
          now,
        );
        credited = converted.conversion.targetAmount;
        // Marked paid and credited nothing, the commissions would go to the residue account.
        if (credited === 0n)
          throw new ApiError(
            "parameter_out_of_range",
            "currency",
            `The approved commissions in ${source} (${amount} minor units) are worth less than one unit of ${body.currency} at the current rate: pay them out with method "external", or later.`,
          );
        conversion = {
          rate: converted.conversion.rate,
          rate_id: converted.rateId,
          from_currency: source,
          source_amount: toJsonAmount(amount),
          source_converted: toJsonAmount(converted.conversion.sourceConverted),
          source_residue: toJsonAmount(converted.conversion.sourceResidue),
        };
        if (converted.conversion.sourceResidue > 0n)
          await applyOrThrow(
            wallets.ledger,
            tx,
            [
              movement({
                from: paidOut(source),
                to: accountId(merchantAccount(scope, "conversion_residue", source)),
                amount: converted.conversion.sourceResidue,
                currency: source,
                code: "conversion_residue",
                reference: body.affiliate,
                nowMs: now,
              }),
            ],
            now,
          );
      }
      if (credited === 0n) continue;
      const grant = await wallets.grant(
        tx,
        scope,
        {
          customer: body.affiliate,
          currency: body.currency!,
          amount: credited,
          category: "paid",
          source: "commission",
          sourceId: body.affiliate,
          conversion,
        },
        now,
      );
      grants.push(presentGrant(grant));
    }
  }
  return {
    object: "commission_payout" as const,
    affiliate: body.affiliate,
    method: body.method,
    commissions: rows.length,
    totals: [...totals].map(([currency, amount]) => ({ currency, amount: toJsonAmount(amount) })),
    wallet_grants: grants,
  };
}
