import type { Queryable } from "../db/db.ts";
import type { PayerAuth } from "./context.ts";
import { findPayerSubscription } from "./views.ts";

/**
 * The evidence behind a subscription, for the payer to keep or show an operator or a regulator:
 * the terms, the consent as billing recorded it (method, when, from where, the text shown, the
 * PIN or operator confirmation), the subscription's events and its charges.
 */
export async function consentEvidence(q: Queryable, auth: PayerAuth, subscriptionId: string, nowMs: number) {
  const sub = await findPayerSubscription(q, auth, subscriptionId);
  const { rows: events } = await q.query<{ id: string; type: string; created: Date }>(
    "select id, type, created from events where object_id = $1 order by id",
    [sub.id],
  );
  const { rows: charges } = await q.query<{
    id: string;
    status: string;
    amount: bigint;
    currency: string;
    created: Date;
  }>(
    "select id, status, amount, currency, created from payments where subscription_id = $1 and merchant_id = $2 order by id",
    [sub.id, sub.merchant_id],
  );
  return {
    object: "consent_evidence" as const,
    generated: new Date(nowMs).toISOString(),
    subscription: {
      id: sub.id,
      merchant: { id: sub.merchant_id, name: sub.merchant_name },
      product: sub.product_name,
      amount: Number(sub.amount),
      currency: sub.currency,
      period: sub.period,
      status: sub.status,
      created: new Date(sub.created).toISOString(),
      canceled_at: sub.canceled_at ? new Date(sub.canceled_at).toISOString() : null,
      livemode: sub.mode === "live",
    },
    consent: sub.consent,
    events: events.map((e) => ({ id: e.id, type: e.type, created: new Date(e.created).toISOString() })),
    charges: charges.map((c) => ({
      id: c.id,
      status: c.status,
      amount: Number(c.amount),
      currency: c.currency,
      created: new Date(c.created).toISOString(),
    })),
  };
}
