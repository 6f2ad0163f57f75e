import type { ServerResponse } from "node:http";
import { fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "../connectors/index.ts";
import { camaraAuth, camaraError, parseJson, paymentOf, sendCloudEvent } from "./camara.ts";
import { type Route, reply, type SimContext } from "./context.ts";
import type { Txn } from "./network.ts";
import { schemaProblems } from "./protocols/validate.ts";

/**
 * CAMARA Carrier Billing Refund v0.3.0: `/{mccmnc}/camara/carrier-billing-refund/v0.3/payments/
 * {paymentId}/refunds`, `total` (the whole rest) or `partial` (an amount), list, retrieve and the
 * remaining amount. A refund moves money back at once (`succeeded`).
 */

type RefundBody = {
  type: "total" | "partial";
  reason?: string;
  sink?: string;
  sinkCredential?: { credentialType: string; accessToken?: string };
  amountTransaction: {
    clientCorrelator?: string;
    referenceCode: string;
    refundAmount: {
      chargingInformation?: { amount: number; currency: string; description: string };
      chargingMetaData?: { merchantIdentifier?: string };
    };
  };
};

/** The charge money was taken by: the payment itself, or the capture of a confirmed reservation. */
function chargeOf(ctx: SimContext, payment: Txn): Txn | undefined {
  if (payment.kind === "charge") return payment;
  return payment.extra.capture_id ? ctx.net.txnById(payment.extra.capture_id) : undefined;
}

function render(refund: Txn): Record<string, unknown> {
  const type = refund.extra.type === "total" ? "total" : "partial";
  const refundAmount: Record<string, unknown> =
    type === "partial"
      ? {
          chargingInformation: {
            amount: rawNumber(toDecimal(refund.amount, refund.currency)),
            currency: refund.currency,
            description: refund.description,
          },
        }
      : {};
  if (refund.extra.merchantIdentifier)
    refundAmount.chargingMetaData = { merchantIdentifier: refund.extra.merchantIdentifier };
  const out: Record<string, unknown> = {
    refundId: refund.id,
    refundStatus: "succeeded",
    type,
    refundCreationDate: new Date(refund.created_ms).toISOString(),
    refundDate: new Date(refund.created_ms).toISOString(),
    amountTransaction: {
      clientCorrelator: refund.key,
      referenceCode: refund.extra.referenceCode ?? refund.key,
      refundAmount,
    },
  };
  if (refund.extra.reason) out.reason = refund.extra.reason;
  if (refund.extra.sink) out.sink = refund.extra.sink;
  return out;
}

function refundsOf(ctx: SimContext, op: string, payment: Txn): Txn[] {
  const charge = chargeOf(ctx, payment);
  if (!charge) return [];
  return [...ctx.net.txnsIn(`${op}/camara-refund`)].filter((t) => t.original_id === charge.id);
}

function create(ctx: SimContext, res: ServerResponse, op: string, id: string, raw: string) {
  const parsed = parseJson(raw);
  const b = parsed as Partial<RefundBody> | undefined;
  if (b && typeof b.sink === "string" && !/^https:\/\/.+$/.test(b.sink))
    return camaraError(res, 400, "INVALID_SINK", "sink not valid for the specified protocol");
  if (b?.sinkCredential && b.sinkCredential.credentialType !== "ACCESSTOKEN")
    return camaraError(res, 400, "INVALID_CREDENTIAL", "Only Access token is supported");
  const problems = schemaProblems("CreateRefund", parsed);
  if (problems.length > 0)
    return camaraError(res, 400, "INVALID_ARGUMENT", `Client specified an invalid argument: ${problems[0]}`);
  const body = parsed as RefundBody;
  const payment = paymentOf(ctx, op, id);
  if (!payment) return camaraError(res, 404, "NOT_FOUND", "The specified resource is not found.");
  const charge = chargeOf(ctx, payment);
  if (charge?.status !== "charged")
    return camaraError(
      res,
      422,
      "CARRIER_BILLING_REFUND.INVALID_PAYMENT_STATUS",
      "Payment is not yet completed.",
    );
  const tx = body.amountTransaction;
  const key = tx.clientCorrelator ?? `${tx.referenceCode}#${charge.id}#${charge.used}`;
  if (tx.clientCorrelator && ctx.net.txnByKey(`${op}/camara-refund`, tx.clientCorrelator))
    return camaraError(res, 400, "INVALID_ARGUMENT", "clientCorrelator already exist on server.");
  const rest = charge.amount - charge.used;
  let amount = rest;
  if (body.type === "partial") {
    const ci = tx.refundAmount.chargingInformation;
    if (!ci || ci.currency !== charge.currency)
      return camaraError(res, 400, "INVALID_ARGUMENT", "Currency is unknown or not authorized.");
    const asked = fromDecimal(ci.amount, ci.currency);
    if (asked === undefined)
      return camaraError(res, 400, "INVALID_ARGUMENT", "Client specified an invalid argument: amount");
    amount = asked;
  }
  if (amount <= 0n || amount > rest)
    return camaraError(
      res,
      422,
      "CARRIER_BILLING_REFUND.UNAUTHORIZED_AMOUNT",
      "Unauthorized amount requested.",
    );
  const r = ctx.net.refund({
    scope: `${op}/camara-refund`,
    key,
    original_id: charge.id,
    amount,
    currency: charge.currency,
  });
  if (r.kind !== "applied")
    return camaraError(
      res,
      422,
      "CARRIER_BILLING_REFUND.UNAUTHORIZED_AMOUNT",
      "Unauthorized amount requested.",
    );
  const refund = r.txn;
  refund.description = tx.refundAmount.chargingInformation?.description ?? "Refund";
  refund.extra = {
    type: body.type,
    referenceCode: tx.referenceCode,
    ...(body.reason ? { reason: body.reason } : {}),
    ...(tx.refundAmount.chargingMetaData?.merchantIdentifier
      ? { merchantIdentifier: tx.refundAmount.chargingMetaData.merchantIdentifier }
      : {}),
    ...(body.sink ? { sink: body.sink } : {}),
    ...(body.sinkCredential?.accessToken ? { sinkToken: body.sinkCredential.accessToken } : {}),
  };
  sendCloudEvent(ctx, refund, "org.camaraproject.carrier-billing-refund.v0.refund-completed", {
    paymentId: payment.id,
    refundId: refund.id,
    status: "succeeded",
    description: "Refund completed",
    refundDate: new Date().toISOString(),
  });
  return reply(res, 201, stringifyWithRawNumbers(render(refund)));
}

const BASE = "^/(\\d{5,6})/camara/carrier-billing-refund/v0\\.3/payments/([^/]+)/refunds";

export const camaraRefundRoutes: Route[] = [
  {
    method: "POST",
    pattern: new RegExp(`${BASE}$`),
    async handle(ctx, req, res, [op = "", id = ""], body) {
      if (!camaraAuth(ctx, req, res, "carrier-billing-refund:refunds:create")) return;
      await ctx.latency();
      create(ctx, res, op, decodeURIComponent(id), body);
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`${BASE}(?:/([^/]+))?$`),
    handle(ctx, req, res, [op = "", id = "", refundId]) {
      if (!camaraAuth(ctx, req, res, "carrier-billing-refund:refunds:read")) return;
      const payment = paymentOf(ctx, op, decodeURIComponent(id));
      if (!payment) return camaraError(res, 404, "NOT_FOUND", "The specified resource is not found.");
      const refunds = refundsOf(ctx, op, payment);
      if (refundId === undefined)
        return reply(res, 200, stringifyWithRawNumbers(refunds.map((r) => render(r))));
      if (refundId === "remaining-amount") {
        const charge = chargeOf(ctx, payment);
        const rest = charge && charge.status === "charged" ? charge.amount - charge.used : 0n;
        return reply(
          res,
          200,
          stringifyWithRawNumbers({
            amount: rawNumber(toDecimal(rest, payment.currency)),
            currency: payment.currency,
          }),
        );
      }
      const refund = refunds.find((r) => r.id === refundId);
      if (!refund) return camaraError(res, 404, "NOT_FOUND", "The specified resource is not found.");
      return reply(res, 200, stringifyWithRawNumbers(render(refund)));
    },
  },
];
