import type { CallbackReply, CallbackRequest, ConnectorEvent } from "../connectors/index.ts";
import { getOperator } from "../connectors/index.ts";
import type { Logger } from "../platform/log.ts";
import { resumeRemoteAttempt, settleAttempt } from "./attempt.ts";
import type { PaymentsContext } from "./context.ts";
import type { PaymentRow } from "./model.ts";
import { CardProvider } from "./providers/card.ts";
import { CarrierProvider } from "./providers/carrier.ts";
import { chargeOutcome, refundStatus } from "./providers/outcomes.ts";
import { settleRefund } from "./refund.ts";

/** Hands a notification to the connector that can verify it; its result arrives as an event. */
export async function handleProviderCallback(
  ctx: PaymentsContext,
  operator: string,
  request: CallbackRequest,
): Promise<CallbackReply> {
  if (operator === "cardpsp") {
    const card = ctx.providers.get("card");
    if (card instanceof CardProvider) return card.connector().handleCallback(request);
  } else if (getOperator(operator)) {
    const carrier = ctx.providers.get("carrier");
    if (carrier instanceof CarrierProvider) return carrier.connector(operator).handleCallback(request);
  }
  return { status: 404, body: "unknown operator" };
}

export type MoListener = (event: Extract<ConnectorEvent, { type: "mo" }>) => void;

/**
 * What connectors learn outside a call (callbacks, delivery receipts, settlement lines): a result
 * settles its payment or refund by our attempt id, idempotently (the first answer wins); MO
 * messages (a STOP keyword) go to whoever listens.
 */
export function connectorEventHandler(
  getContext: () => PaymentsContext,
  logger: Logger | undefined,
  moListeners: Set<MoListener>,
): (event: ConnectorEvent) => void {
  return (event) => {
    if (event.type === "mo") {
      void payOnMo(getContext(), event).catch((error: unknown) =>
        logger?.error({ err: error }, "could not apply an MO message to a payment"),
      );
      for (const listener of moListeners) listener(event);
      return;
    }
    if (event.type === "rejected_callback") {
      logger?.warn({ reason: event.reason }, "a provider notification was refused");
      return;
    }
    const ctx = getContext();
    void settleEvent(ctx, event.attempt_id, event.outcome).catch((error: unknown) =>
      logger?.error(
        { err: error, attempt: event.attempt_id },
        "could not apply a provider notification; reconciliation will",
      ),
    );
  };
}

async function settleEvent(
  ctx: PaymentsContext,
  attemptId: string,
  outcome: Extract<ConnectorEvent, { type: "outcome" }>["outcome"],
): Promise<void> {
  const { rows } = await ctx.db.query<PaymentRow>("select * from payments where attempt_id = $1", [
    attemptId,
  ]);
  const payment = rows[0];
  // A renewal's attempt belongs to the billing scheduler, which settles the payment and its
  // subscription together by asking the provider; settling the payment alone here would leave
  // the subscription unpaid with its period's money taken.
  if (payment?.subscription_id) return;
  if (payment) {
    await settleAttempt(
      ctx,
      payment.id,
      attemptId,
      {
        outcome: chargeOutcome(outcome, "sync", payment.capture_method),
        interactions: [],
      },
      { known: payment },
    );
    return;
  }
  const refund = await ctx.db.query("select 1 from refunds where id = $1", [attemptId]);
  if (refund.rowCount > 0)
    await settleRefund(ctx, attemptId, { ...refundStatus(outcome, "sync"), interactions: [] });
}

/** `PAY <code>` from the payment's MSISDN answers its `send_mo` next action: the charge follows. */
async function payOnMo(ctx: PaymentsContext, event: Extract<ConnectorEvent, { type: "mo" }>): Promise<void> {
  const [word, code] = event.text.trim().toUpperCase().split(/\s+/);
  if (word !== "PAY" || !code) return;
  const { rows } = await ctx.db.query<PaymentRow>(
    `select * from payments where status = 'requires_action' and provider_state ->> 'mo_code' = $1
       and payment_method ->> 'msisdn' = $2`,
    [code, event.msisdn],
  );
  const payment = rows[0];
  if (!payment) return;
  await resumeRemoteAttempt(ctx, payment.id, {
    expect: (p) => {
      if (p.status !== "requires_action" || p.next_action?.type !== "send_mo")
        throw new Error("no longer waiting for an MO");
    },
    state: { mo_received: true },
  });
}
