import type { ServerResponse } from "node:http";
import { fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "../connectors/sdk/money.ts";
import { authorised, type Route, reply, replyJson, type SimContext } from "./context.ts";
import type { DeclineReason, Txn } from "./network.ts";

/**
 * CAMARA Carrier Billing Checkout (v0) front end: `/{mccmnc}/camara/payment/v0/payments`.
 * One step, or prepare → confirm | cancel. A repeated clientCorrelator answers 409.
 * The error `code` strings are this simulator's choice in the CAMARA style [U].
 */

export const CAMARA_DECLINES: Record<DeclineReason, { http: number; code: string }> = {
  insufficient_funds: { http: 403, code: "CARRIER_BILLING.INSUFFICIENT_FUNDS" },
  barred: { http: 403, code: "CARRIER_BILLING.USER_BARRED" },
  limit_transaction: { http: 403, code: "CARRIER_BILLING.AMOUNT_LIMIT_EXCEEDED" },
  limit_month: { http: 403, code: "CARRIER_BILLING.PERIOD_LIMIT_EXCEEDED" },
  invalid_currency: { http: 400, code: "INVALID_ARGUMENT" },
  transient: { http: 503, code: "UNAVAILABLE" },
};

function error(res: ServerResponse, status: number, code: string, message: string): void {
  replyJson(res, status, { status, code, message });
}

function paymentStatus(txn: Txn): string {
  if (txn.extra.reported === "Processing") return "Processing";
  if (txn.extra.cancelled) return "Cancelled";
  switch (txn.status) {
    case "charged":
      return "Succeeded";
    case "reserved":
      return "Reserved";
    case "released":
      return "Cancelled";
    default:
      return "Denied";
  }
}

function render(txn: Txn): string {
  const out: Record<string, unknown> = {
    paymentId: txn.id,
    paymentStatus: paymentStatus(txn),
    paymentCreationDate: new Date(txn.created_ms).toISOString(),
    clientCorrelator: txn.key,
    referenceCode: txn.extra.referenceCode ?? txn.key,
    endUserId: txn.msisdn,
    chargingInformation: {
      amount: rawNumber(toDecimal(txn.amount, txn.currency)),
      currency: txn.currency,
      description: txn.description,
    },
  };
  if (txn.reason) out.statusInfo = CAMARA_DECLINES[txn.reason].code;
  return stringifyWithRawNumbers(out);
}

interface Body {
  endUserId?: unknown;
  clientCorrelator?: unknown;
  referenceCode?: unknown;
  notificationUrl?: unknown;
  chargingInformation?: { amount?: unknown; currency?: unknown; description?: unknown };
}

const S = (v: unknown) => (typeof v === "string" ? v : "");

async function create(
  ctx: SimContext,
  res: ServerResponse,
  op: string,
  body: string,
  kind: "charge" | "reservation",
): Promise<void> {
  const b = JSON.parse(body) as Body;
  const currency = S(b.chargingInformation?.currency);
  const amount = fromDecimal(b.chargingInformation?.amount, currency);
  const key = S(b.clientCorrelator);
  const msisdn = S(b.endUserId).replace(/^tel:/, "");
  if (amount === undefined || amount <= 0n || !key || !msisdn)
    return error(res, 400, "INVALID_ARGUMENT", "Client specified an invalid argument");
  await ctx.latency();
  const r = ctx.net.charge({
    scope: `${op}/camara`,
    key,
    operator: op,
    protocol: "camara",
    msisdn,
    amount,
    currency,
    description: S(b.chargingInformation?.description),
    kind,
    extra: { referenceCode: S(b.referenceCode) },
  });
  if (r.kind === "transient") return error(res, 503, "UNAVAILABLE", "Service unavailable");
  if (r.kind === "replay")
    return error(res, 409, "CONFLICT", "Another payment is created for the same client correlator");
  if (r.kind === "declined") {
    const d = CAMARA_DECLINES[r.reason];
    return error(res, d.http, d.code, "Payment denied");
  }
  const txn = r.txn;
  if (txn.behaviour === "hang") return ctx.hold(res);
  const url = S(b.notificationUrl);
  if (txn.behaviour === "callback" && kind === "charge") {
    txn.extra.reported = "Processing";
    ctx.later(() => {
      delete txn.extra.reported;
      if (url) ctx.notify(url, render(txn));
    }, ctx.config.callback_delay_ms);
  }
  return reply(res, 201, render(txn));
}

const BASE = "^/(\\d{5,6})/camara/payment/v0/payments";

export const camaraRoutes: Route[] = [
  {
    method: "POST",
    pattern: new RegExp(`${BASE}$`),
    handle: (ctx, req, res, [op = ""], body) =>
      authorised(ctx, req)
        ? create(ctx, res, op, body, "charge")
        : error(res, 401, "UNAUTHENTICATED", "Request not authenticated"),
  },
  {
    method: "POST",
    pattern: new RegExp(`${BASE}/prepare$`),
    handle: (ctx, req, res, [op = ""], body) =>
      authorised(ctx, req)
        ? create(ctx, res, op, body, "reservation")
        : error(res, 401, "UNAUTHENTICATED", "Request not authenticated"),
  },
  {
    method: "POST",
    pattern: new RegExp(`${BASE}/([^/]+)/(confirm|cancel)$`),
    async handle(ctx, req, res, [op = "", id = "", action = ""], body) {
      if (!authorised(ctx, req)) return error(res, 401, "UNAUTHENTICATED", "Request not authenticated");
      const r = ctx.net.txnById(id);
      if (!r || r.operator !== op || r.kind !== "reservation")
        return error(res, 404, "NOT_FOUND", "No such payment");
      await ctx.latency();
      if (action === "cancel") {
        ctx.net.release({ reservation_id: id });
        r.extra.cancelled = "1";
        return reply(res, 200, render(r));
      }
      // Confirming twice answers the first confirmation: the confirm is idempotent per payment.
      if (r.status === "charged") return reply(res, 200, render(r));
      if (r.status !== "reserved") return error(res, 409, "CONFLICT", "Payment is not in Reserved status");
      const b = (body ? JSON.parse(body) : {}) as Body;
      const key = S(b.clientCorrelator) || `${id}-confirm`;
      const result = ctx.net.capture({ scope: `${op}/camara`, key, reservation_id: id, amount: r.amount });
      if (result.kind !== "applied" && result.kind !== "replay")
        return error(res, 409, "CONFLICT", "Payment is not in Reserved status");
      r.status = "charged";
      return reply(res, 200, render(r));
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`${BASE}/([^/]+)$`),
    handle(ctx, req, res, [op = "", id = ""]) {
      if (!authorised(ctx, req)) return error(res, 401, "UNAUTHENTICATED", "Request not authenticated");
      const txn = ctx.net.txnById(id);
      if (!txn || txn.operator !== op) return error(res, 404, "NOT_FOUND", "No such payment");
      return reply(res, 200, render(txn));
    },
  },
  {
    // Lookup by clientCorrelator: how the connector settles a lost reply.
    method: "GET",
    pattern: new RegExp(`${BASE}$`),
    handle(ctx, req, res, [op = ""], _b, url) {
      if (!authorised(ctx, req)) return error(res, 401, "UNAUTHENTICATED", "Request not authenticated");
      const key = url.searchParams.get("clientCorrelator") ?? "";
      const txn = ctx.net.txnByKey(`${op}/camara`, key);
      return reply(res, 200, `[${txn ? render(txn) : ""}]`);
    },
  },
];
