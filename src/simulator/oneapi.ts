import type { ServerResponse } from "node:http";
import { fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "../connectors/index.ts";
import { parseJson } from "./camara.ts";
import { authorised, type Route, reply, replyJson, type SimContext } from "./context.ts";
import type { ChargeResult, DeclineReason, Txn } from "./network.ts";
import { CHARGE_MANDATORY, REFUND_MANDATORY } from "./protocols/oneapi.ts";
import { schemaProblems } from "./protocols/validate.ts";

/**
 * GSMA OneAPI / OMA ParlayREST Payment front end: `/{mccmnc}/oneapi/payment/v1/{endUserId}/…`.
 * 201 with the echoed transaction on success, `requestError` with POL/SVC codes on failure,
 * SVC0005 (409) on a repeated clientCorrelator.
 */

type Status = "Charged" | "Refunded" | "Reserved" | "Released" | "Processing" | "Denied";

export const ONEAPI_DECLINES: Record<
  DeclineReason,
  { http: number; exception: "policyException" | "serviceException"; id: string; text: string }
> = {
  insufficient_funds: {
    http: 403,
    exception: "policyException",
    id: "POL1000",
    text: "User has insufficient credit for transaction",
  },
  barred: {
    http: 403,
    exception: "policyException",
    id: "POL2003",
    text: "User is barred from premium charging",
  },
  limit_transaction: {
    http: 403,
    exception: "policyException",
    id: "POL0254",
    text: "The amount exceeds the operator limit for a single charge",
  },
  limit_month: {
    http: 403,
    exception: "policyException",
    id: "POL1001",
    text: "The monthly operator charging limit has been exceeded",
  },
  invalid_currency: {
    http: 400,
    exception: "serviceException",
    id: "SVC0007",
    text: "Invalid charging information",
  },
  transient: {
    http: 503,
    exception: "serviceException",
    id: "SVC0001",
    text: "A service error occurred, try later",
  },
};

function requestError(
  res: ServerResponse,
  http: number,
  exception: "policyException" | "serviceException",
  id: string,
  text: string,
  variables: string[] = [],
): void {
  replyJson(res, http, { requestError: { [exception]: { messageId: id, text, variables } } });
}

function txnStatus(txn: Txn): Status {
  if (txn.extra.reported === "Processing") return "Processing";
  switch (txn.status) {
    case "charged":
      return "Charged";
    case "refunded":
      return "Refunded";
    case "reserved":
      return "Reserved";
    case "released":
      return "Released";
    case "processing":
      return "Processing";
    default:
      return "Denied";
  }
}

function resourceUrl(ctx: SimContext, op: string, txn: Txn): string {
  const resource = txn.kind === "reservation" ? "amountReservation" : "amount";
  return `${ctx.httpUrl()}/${op}/oneapi/v1/payment/${encodeURIComponent(`tel:${txn.msisdn}`)}/transactions/${resource}/${txn.id}`;
}

export function render(ctx: SimContext, op: string, txn: Txn, wrapper = "amountTransaction"): string {
  const user = `tel:${txn.msisdn}`;
  const body: Record<string, unknown> = {
    endUserId: user,
    paymentAmount: {
      chargingInformation: {
        amount: rawNumber(toDecimal(txn.amount, txn.currency)),
        currency: txn.currency,
        description: txn.description,
      },
      totalAmountCharged: rawNumber(toDecimal(txn.status === "declined" ? 0n : txn.amount, txn.currency)),
    },
    clientCorrelator: txn.key,
    referenceCode: txn.extra.referenceCode ?? txn.key,
    serverReferenceCode: txn.id,
    resourceURL: resourceUrl(ctx, op, txn),
    transactionOperationStatus: txnStatus(txn),
  };
  // The status query of a declined charge: OneAPI's transaction has no reason member, the
  // status says it (the reason was in the error that answered the charge).
  return stringifyWithRawNumbers({ [wrapper]: body });
}

interface Parsed {
  endUserId: string;
  status: string;
  amount: bigint | undefined;
  currency: string;
  description: string;
  clientCorrelator: string;
  referenceCode: string;
  callbackURL: string | undefined;
  originalServerReferenceCode: string | undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/**
 * A request as the spec accepts it: v1 form parameters (every mandatory one present), or the JSON
 * transaction object (checked against the project's schema). Anything else is undefined (SVC0002).
 */
function parseRequest(contentType: string, body: string, wrapper: string): Parsed | undefined {
  if (contentType.includes("application/x-www-form-urlencoded")) {
    const f = new URLSearchParams(body);
    const status = f.get("transactionOperationStatus") ?? "";
    const mandatory = status.toLowerCase() === "refunded" ? REFUND_MANDATORY : CHARGE_MANDATORY;
    if (mandatory.some((name) => !f.get(name))) return undefined;
    const currency = f.get("currency") ?? "";
    return {
      endUserId: f.get("endUserId") ?? "",
      // v1 names the desired state in lower case; the JSON binding capitalises it.
      status: status.charAt(0).toUpperCase() + status.slice(1).toLowerCase(),
      amount: fromDecimal(f.get("amount"), currency),
      currency,
      description: f.get("description") ?? "",
      clientCorrelator: f.get("clientCorrelator") ?? "",
      referenceCode: f.get("referenceCode") ?? "",
      callbackURL: f.get("callbackURL") ?? undefined,
      originalServerReferenceCode: f.get("originalServerReferenceCode") ?? undefined,
    };
  }
  const doc: unknown = JSON.parse(body);
  if (!doc || typeof doc !== "object") return undefined;
  const schema = wrapper === "amountTransaction" ? "ChargeRequest" : "ReservationRequest";
  if (schemaProblems(schema, doc).length > 0) return undefined;
  const t = (doc as Record<string, unknown>)[wrapper];
  if (!t || typeof t !== "object") return undefined;
  const tx = t as Record<string, unknown>;
  const pa = (tx.paymentAmount ?? {}) as Record<string, unknown>;
  const ci = (pa.chargingInformation ?? {}) as Record<string, unknown>;
  const currency = str(ci.currency) ?? "";
  const description = str(ci.description);
  return {
    endUserId: str(tx.endUserId) ?? "",
    status: str(tx.transactionOperationStatus) ?? "",
    amount: fromDecimal(ci.amount, currency),
    currency,
    description: description ?? "",
    clientCorrelator: str(tx.clientCorrelator) ?? "",
    referenceCode: str(tx.referenceCode) ?? "",
    callbackURL: str(tx.callbackURL),
    originalServerReferenceCode: str(tx.originalServerReferenceCode),
  };
}

function msisdnOf(endUserId: string): string {
  return decodeURIComponent(endUserId).replace(/^tel:/, "").replace(/^\+?/, "+");
}

/**
 * Answers a money result the OneAPI way: 201 Created with `Location` (202 Accepted when the result
 * will come to the `callbackURL`). `hang` and `callback` numbers are handled here.
 */
function answer(
  ctx: SimContext,
  res: ServerResponse,
  op: string,
  result: ChargeResult,
  callbackURL: string | undefined,
  wrapper: string,
) {
  switch (result.kind) {
    case "transient": {
      const d = ONEAPI_DECLINES.transient;
      return requestError(res, d.http, d.exception, d.id, d.text);
    }
    case "replay":
      return requestError(res, 409, "serviceException", "SVC0005", "duplicate correlatorId %1", [
        result.txn.key,
      ]);
    case "declined": {
      const d = ONEAPI_DECLINES[result.reason];
      return requestError(res, d.http, d.exception, d.id, d.text);
    }
    case "applied": {
      const txn = result.txn;
      if (txn.behaviour === "hang") return ctx.hold(res);
      let status = 201;
      if (txn.behaviour === "callback" && txn.kind === "charge") {
        txn.extra.reported = "Processing";
        if (callbackURL) status = 202;
        ctx.later(() => {
          delete txn.extra.reported;
          if (callbackURL) ctx.notify(callbackURL, render(ctx, op, txn, wrapper));
        }, ctx.config.callback_delay_ms);
      }
      const body = render(ctx, op, txn, wrapper);
      return reply(res, status, body, "application/json", { location: resourceUrl(ctx, op, txn) });
    }
  }
}

const PAY = "^/(\\d{5,6})/oneapi/v1/payment/([^/]+)/transactions";

export const oneapiRoutes: Route[] = [
  {
    method: "POST",
    pattern: new RegExp(`${PAY}/amount$`),
    async handle(ctx, req, res, [op = "", user = ""], body) {
      if (!authorised(ctx, req))
        return requestError(res, 401, "policyException", "POL0001", "Authentication failed");
      const p = parseRequest(req.headers["content-type"] ?? "", body, "amountTransaction");
      if (!p || p.amount === undefined || p.amount <= 0n)
        return requestError(
          res,
          400,
          "serviceException",
          "SVC0002",
          "Invalid input value for message part %1",
          ["amount"],
        );
      if (msisdnOf(p.endUserId || user) !== msisdnOf(user))
        return requestError(
          res,
          400,
          "serviceException",
          "SVC0002",
          "Invalid input value for message part %1",
          ["endUserId"],
        );
      if (!p.clientCorrelator)
        return requestError(
          res,
          400,
          "serviceException",
          "SVC0002",
          "Invalid input value for message part %1",
          ["clientCorrelator"],
        );
      await ctx.latency();
      const scope = `${op}/oneapi`;
      if (p.status === "Charged") {
        const r = ctx.net.charge({
          scope,
          key: p.clientCorrelator,
          operator: op,
          protocol: "oneapi",
          msisdn: msisdnOf(user),
          amount: p.amount,
          currency: p.currency,
          description: p.description,
          extra: { referenceCode: p.referenceCode },
        });
        return answer(ctx, res, op, r, p.callbackURL, "amountTransaction");
      }
      if (p.status === "Refunded") {
        const r = ctx.net.refund({
          scope,
          key: p.clientCorrelator,
          original_id: p.originalServerReferenceCode,
          amount: p.amount,
          currency: p.currency,
        });
        if (r.kind === "invalid") {
          if (r.why === "original_missing")
            return requestError(
              res,
              400,
              "policyException",
              "POL1005",
              "Refund requires originalServerReferenceCode",
            );
          if (r.why === "original_unknown")
            return requestError(
              res,
              400,
              "policyException",
              "POL1006",
              "Invalid originalServerReferenceCode",
            );
          return requestError(res, 403, "policyException", "POL0523", "Not enough refundable amount");
        }
        return answer(ctx, res, op, r, undefined, "amountTransaction");
      }
      return requestError(
        res,
        400,
        "serviceException",
        "SVC0002",
        "Invalid input value for message part %1",
        ["transactionOperationStatus"],
      );
    },
  },
  {
    // Status by our idempotency key: how a lost reply is settled.
    method: "GET",
    pattern: new RegExp(`${PAY}/(amount|amountReservation)$`),
    handle(ctx, req, res, [op = ""], _body, url) {
      if (!authorised(ctx, req))
        return requestError(res, 401, "policyException", "POL0001", "Authentication failed");
      const key = url.searchParams.get("clientCorrelator") ?? "";
      const txn = ctx.net.txnByKey(`${op}/oneapi`, key);
      if (!txn)
        return requestError(
          res,
          404,
          "serviceException",
          "SVC0004",
          "No transaction for clientCorrelator %1",
          [key],
        );
      // A refused charge is answered with the exception that refused it.
      if (txn.status === "declined" && txn.reason) {
        const d = ONEAPI_DECLINES[txn.reason];
        return requestError(res, d.http, d.exception, d.id, d.text);
      }
      return reply(
        res,
        200,
        render(
          ctx,
          op,
          txn,
          txn.kind === "reservation" ? "amountReservationTransaction" : "amountTransaction",
        ),
      );
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`${PAY}/(?:amount|amountReservation)/([^/]+)$`),
    handle(ctx, req, res, [op = "", , id = ""]) {
      if (!authorised(ctx, req))
        return requestError(res, 401, "policyException", "POL0001", "Authentication failed");
      const txn = ctx.net.txnById(id);
      if (!txn || txn.operator !== op)
        return requestError(res, 404, "serviceException", "SVC0004", "No such transaction");
      return reply(
        res,
        200,
        render(
          ctx,
          op,
          txn,
          txn.kind === "reservation" ? "amountReservationTransaction" : "amountTransaction",
        ),
      );
    },
  },
  {
    method: "POST",
    pattern: new RegExp(`${PAY}/amountReservation$`),
    async handle(ctx, req, res, [op = "", user = ""], body) {
      if (!authorised(ctx, req))
        return requestError(res, 401, "policyException", "POL0001", "Authentication failed");
      const p = parseRequest(req.headers["content-type"] ?? "", body, "amountReservationTransaction");
      if (!p || p.amount === undefined || p.amount <= 0n || p.status !== "Reserved" || !p.clientCorrelator)
        return requestError(res, 400, "serviceException", "SVC0002", "Invalid input value");
      await ctx.latency();
      const r = ctx.net.charge({
        scope: `${op}/oneapi`,
        key: p.clientCorrelator,
        operator: op,
        protocol: "oneapi",
        msisdn: msisdnOf(user),
        amount: p.amount,
        currency: p.currency,
        description: p.description,
        kind: "reservation",
      });
      if (r.kind === "applied" && r.txn.behaviour === "callback") r.txn.behaviour = "normal";
      return answer(ctx, res, op, r, undefined, "amountReservationTransaction");
    },
  },
  {
    method: "POST",
    pattern: new RegExp(`${PAY}/amountReservation/([^/]+)$`),
    async handle(ctx, req, res, [op = "", , id = ""], body) {
      if (!authorised(ctx, req))
        return requestError(res, 401, "policyException", "POL0001", "Authentication failed");
      const p = parseRequest(req.headers["content-type"] ?? "", body, "amountReservationTransaction");
      if (!p) return requestError(res, 400, "serviceException", "SVC0002", "Invalid input value");
      await ctx.latency();
      if (p.status === "Released") {
        const r = ctx.net.release({ reservation_id: id });
        if (!r) return requestError(res, 400, "policyException", "POL2011", "Expired or invalid transaction");
        return reply(res, 200, render(ctx, op, r, "amountReservationTransaction"));
      }
      if (p.status === "Charged" && p.amount !== undefined && p.clientCorrelator) {
        const r = ctx.net.capture({
          scope: `${op}/oneapi`,
          key: p.clientCorrelator,
          reservation_id: id,
          amount: p.amount,
        });
        if (r.kind === "invalid")
          return requestError(res, 400, "policyException", "POL2010", "Inconsistent transaction");
        if (r.kind === "applied") r.txn.behaviour = "normal";
        return answer(ctx, res, op, r, undefined, "amountReservationTransaction");
      }
      return requestError(res, 400, "serviceException", "SVC0002", "Invalid input value");
    },
  },
  {
    method: "POST",
    pattern: /^\/(\d{5,6})\/oneapi\/v1\/smsmessaging\/outbound\/([^/]+)\/requests$/,
    handle(ctx, req, res, [op = "", sender = ""], body) {
      if (!authorised(ctx, req))
        return requestError(res, 401, "policyException", "POL0001", "Authentication failed");
      if (schemaProblems("SmsRequest", parseJson(body)).length > 0)
        return requestError(res, 400, "serviceException", "SVC0002", "Invalid input value");
      const b = JSON.parse(body) as {
        outboundSMSMessageRequest?: { address?: unknown; outboundSMSTextMessage?: { message?: unknown } };
      };
      const r = b.outboundSMSMessageRequest;
      const addresses = Array.isArray(r?.address) ? r.address : [r?.address];
      const text = str(r?.outboundSMSTextMessage?.message);
      if (!text || addresses.some((a) => typeof a !== "string"))
        return requestError(res, 400, "serviceException", "SVC0002", "Invalid input value");
      for (const a of addresses) ctx.net.sendSms(op, msisdnOf(a as string), text);
      const id = ctx.net.nextId("SMS");
      const resourceURL = `${ctx.httpUrl()}/${op}/oneapi/v1/smsmessaging/outbound/${encodeURIComponent(decodeURIComponent(sender))}/requests/${id}`;
      return replyJson(res, 201, { resourceReference: { resourceURL } }, { location: resourceURL });
    },
  },
  {
    // Orange-style balance report: `bucket[name=Main Balance].bucketBalance[].remainingValue`.
    method: "GET",
    pattern: /^\/(\d{5,6})\/oneapi\/customer\/usageConsumption\/v1\/usageConsumptionReport$/,
    handle(ctx, req, res, [op = ""], _b, url) {
      if (!authorised(ctx, req))
        return requestError(res, 401, "policyException", "POL0001", "Authentication failed");
      const operator = ctx.net.operator(op);
      const key = url.searchParams.get("publicKey") ?? "";
      if (!operator || !key)
        return requestError(res, 404, "serviceException", "SVC0004", "No such subscriber");
      const s = ctx.net.subscriber(msisdnOf(key), operator.currency);
      return reply(
        res,
        200,
        stringifyWithRawNumbers({
          ratingType: s.rating === "prepaid" ? "Prepaid" : "Postpaid",
          bucket: [
            {
              id: "OCS-0",
              name: "Main Balance",
              bucketBalance: [
                { remainingValue: rawNumber(toDecimal(s.balance, s.currency)), unit: s.currency },
              ],
            },
          ],
        }),
      );
    },
  },
];
