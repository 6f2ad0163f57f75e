import { ApiError } from "../platform/errors.ts";
import type { Mode } from "../platform/scope.ts";
import { loadPayer, presentPayer } from "./accounts.ts";
import type { PayerAuth, PayersContext } from "./context.ts";
import { findPayerSubscription, hasDealtWith, presentPayerSubscription } from "./views.ts";

/**
 * What a payer changes themselves: cancel a subscription (through billing's own cancel, so the
 * renewal job goes and the merchant gets its events), spending caps, merchant blocks.
 */

export async function cancelOwnSubscription(ctx: PayersContext, auth: PayerAuth, id: string) {
  const sub = await findPayerSubscription(ctx.db, auth, id);
  if (sub.status !== "canceled") {
    try {
      await ctx.cancelSubscription({ merchantId: sub.merchant_id, mode: sub.mode as Mode }, sub.id);
    } catch (error) {
      // Canceled meanwhile (a second click, an MO STOP): the outcome the payer wanted.
      if (!(error instanceof ApiError && error.code === "subscription_unexpected_state")) throw error;
    }
  }
  return presentPayerSubscription(await findPayerSubscription(ctx.db, auth, id));
}

export async function updateSettings(
  ctx: PayersContext,
  auth: PayerAuth,
  input: { monthly_caps?: Record<string, number | null> | undefined },
) {
  const nowMs = ctx.clock.nowMs();
  return ctx.db.transaction(async (tx) => {
    const payer = await loadPayer(tx, auth.payerId);
    const caps: Record<string, number> = Object.fromEntries(
      Object.entries(payer.monthly_caps).map(([c, a]) => [c, Number(a)]),
    );
    for (const [currency, amount] of Object.entries(input.monthly_caps ?? {})) {
      if (amount === null) delete caps[currency];
      else caps[currency] = amount;
    }
    await tx.query("update payers set monthly_caps = $2, updated = $3 where id = $1", [
      payer.id,
      JSON.stringify(caps),
      new Date(nowMs),
    ]);
    return presentPayer(tx, { ...payer, monthly_caps: caps });
  });
}

export async function blockMerchant(ctx: PayersContext, auth: PayerAuth, merchantId: string) {
  // Only a merchant the payer knows: merchant ids are not something to probe for.
  if (!(await hasDealtWith(ctx.db, auth, merchantId)))
    throw new ApiError("resource_missing", "id", `No such merchant among yours: '${merchantId}'.`);
  await ctx.db.query(
    "insert into payer_merchant_blocks (payer_id, merchant_id, created) values ($1, $2, $3) on conflict do nothing",
    [auth.payerId, merchantId, new Date(ctx.clock.nowMs())],
  );
  return presentPayer(ctx.db, await loadPayer(ctx.db, auth.payerId));
}

export async function unblockMerchant(ctx: PayersContext, auth: PayerAuth, merchantId: string) {
  await ctx.db.query("delete from payer_merchant_blocks where payer_id = $1 and merchant_id = $2", [
    auth.payerId,
    merchantId,
  ]);
  return presentPayer(ctx.db, await loadPayer(ctx.db, auth.payerId));
}
