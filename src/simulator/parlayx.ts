import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Operator } from "../connectors/index.ts";
import {
  asRecord,
  asText,
  fromDecimal,
  huaweiPassword,
  parseSoap,
  soapEnvelope,
  soapFaultXml,
} from "../connectors/index.ts";
import { authorised, type Route, reply, type SimContext } from "./context.ts";
import type { ChargeResult, DeclineReason } from "./network.ts";

/**
 * Parlay X 2.1 Amount Charging and Reserve Amount Charging (SOAP 1.1, document/literal):
 * `/{mccmnc}/parlayx/AmountChargingService/services/AmountCharging` and
 * `/{mccmnc}/parlayx/ReserveAmountChargingService/services/ReserveAmountCharging`.
 * Success is an empty `…Response`; faults carry the code in `detail/*\/messageId`, HTTP 500.
 * A repeated referenceCode answers the original result without charging again.
 */

export const COMMON_NS = "http://www.csapi.org/schema/parlayx/common/v2_1";

export function amountNs(version: string): string {
  return `http://www.csapi.org/schema/parlayx/payment/amount_charging/${version}/local`;
}
export function reserveNs(version: string): string {
  return `http://www.csapi.org/schema/parlayx/payment/reserve_amount_charging/${version}/local`;
}

export const PARLAYX_DECLINES: Record<
  DeclineReason,
  { exception: "ServiceException" | "PolicyException"; id: string; text: string }
> = {
  insufficient_funds: { exception: "PolicyException", id: "POL0501", text: "INSUFFICIENT_CREDIT" },
  barred: {
    exception: "PolicyException",
    id: "POL0008",
    text: "Charging is not supported for this end user",
  },
  limit_transaction: { exception: "PolicyException", id: "POL0521", text: "SINGLE_CHARGING_LIMIT_REACHED" },
  limit_month: { exception: "PolicyException", id: "POL0520", text: "CHARGING_LIMIT_REACHED" },
  invalid_currency: { exception: "ServiceException", id: "SVC0007", text: "Invalid charging information" },
  transient: { exception: "ServiceException", id: "SVC0001", text: "A service error occurred" },
};

function fault(
  res: ServerResponse,
  exception: "ServiceException" | "PolicyException",
  id: string,
  text: string,
): void {
  reply(
    res,
    500,
    soapFaultXml({ faultstring: text, exception, messageId: id, text, commonNs: COMMON_NS }),
    "text/xml; charset=utf-8",
  );
}

function ok(res: ServerResponse, ns: string, element: string, inner = ""): void {
  reply(
    res,
    200,
    soapEnvelope({
      namespaces: { ns1: ns },
      body: inner ? `<ns1:${element}>${inner}</ns1:${element}>` : `<ns1:${element}/>`,
    }),
    "text/xml; charset=utf-8",
  );
}

/** Checks whichever authentication the operator is configured for. */
function authenticated(
  ctx: SimContext,
  req: IncomingMessage,
  op: Operator,
  header: Record<string, unknown>,
): boolean {
  if (op.quirks.soap_auth === "huawei") {
    const h = asRecord(header.RequestSOAPHeader);
    const spId = asText(h.spId) ?? "";
    const ts = asText(h.timeStamp) ?? "";
    return (
      spId === (op.quirks.sp_id ?? "") &&
      asText(h.spPassword) === huaweiPassword(spId, ctx.config.password, ts)
    );
  }
  if (op.quirks.soap_auth === "wsse") {
    const t = asRecord(asRecord(header.Security).UsernameToken);
    const nonce = Buffer.from(asText(t.Nonce) ?? "", "base64");
    const created = asText(t.Created) ?? "";
    const digest = createHash("sha1")
      .update(Buffer.concat([nonce, Buffer.from(created + ctx.config.password)]))
      .digest("base64");
    return asText(t.Username) === ctx.config.username && asText(t.Password) === digest;
  }
  return authorised(ctx, req);
}

function chargeInfo(
  v: unknown,
  op: Operator,
): { amount: bigint | undefined; currency: string; description: string } {
  const c = asRecord(v);
  const spelled = asText(c.currency) ?? op.currency;
  const currency = spelled === op.quirks.currency_spelling ? op.currency : spelled;
  return {
    amount: fromDecimal(asText(c.amount), currency),
    currency,
    description: asText(c.description) ?? "",
  };
}

function answer(ctx: SimContext, res: ServerResponse, r: ChargeResult, ns: string, element: string) {
  // A replayed referenceCode answers exactly what the first request got.
  const txn = r.kind === "replay" || r.kind === "applied" || r.kind === "declined" ? r.txn : undefined;
  if (r.kind === "transient") {
    const d = PARLAYX_DECLINES.transient;
    return fault(res, d.exception, d.id, d.text);
  }
  if (txn?.reason) {
    const d = PARLAYX_DECLINES[txn.reason];
    return fault(res, d.exception, d.id, d.text);
  }
  if (r.kind === "applied" && txn?.behaviour === "hang") return ctx.hold(res);
  const inner = txn?.kind === "reservation" ? `<ns1:result>${txn.id}</ns1:result>` : "";
  return ok(res, ns, element, inner);
}

function user(v: unknown): string {
  return (asText(v) ?? "").replace(/^tel:/, "");
}

const handle: Route["handle"] = async (ctx, req, res, [op = "", service = ""], body) => {
  const operator = ctx.net.operator(op);
  if (!operator) return fault(res, "ServiceException", "SVC0002", "Unknown operator");
  let msg: ReturnType<typeof parseSoap>;
  try {
    msg = parseSoap(body);
  } catch {
    return reply(
      res,
      500,
      soapEnvelope({
        namespaces: {},
        body: "<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>Malformed request</faultstring></soapenv:Fault>",
      }),
      "text/xml",
    );
  }
  if (!authenticated(ctx, req, operator, msg.header))
    return fault(res, "ServiceException", "SVC0901", "Authentication failed");
  const version = operator.quirks.namespace_version;
  const ns = service === "AmountCharging" ? amountNs(version) : reserveNs(version);
  // Gateways bind to one schema version: a request in another namespace is a client error.
  if (!body.includes(`"${ns}"`)) return fault(res, "ServiceException", "SVC0002", `Expected namespace ${ns}`);
  await ctx.latency();
  const scope = `${op}/parlayx`;
  const [operation, raw] = Object.entries(msg.body)[0] ?? ["", undefined];
  const p = asRecord(raw);
  const ref = asText(p.referenceCode) ?? "";
  switch (operation) {
    case "chargeAmount":
    case "refundAmount": {
      const c = chargeInfo(p.charge, operator);
      if (c.amount === undefined || c.amount <= 0n)
        return fault(res, "ServiceException", "SVC0007", "Invalid charging information");
      if (!ref || ref.length > 30)
        return fault(
          res,
          "ServiceException",
          "SVC0002",
          "Invalid input value for message part referenceCode",
        );
      if (operation === "chargeAmount") {
        const r = ctx.net.charge({
          scope,
          key: ref,
          operator: op,
          protocol: "parlayx",
          msisdn: user(p.endUserIdentifier),
          amount: c.amount,
          currency: c.currency,
          description: c.description,
        });
        return answer(ctx, res, r, ns, "chargeAmountResponse");
      }
      // Parlay X refunds name no original charge: the operator refunds the subscriber's latest refundable charge.
      const replayed = ctx.net.txnByKey(scope, ref);
      const original =
        replayed?.original_id ?? ctx.net.latestRefundable(scope, user(p.endUserIdentifier), c.amount)?.id;
      const r = ctx.net.refund({
        scope,
        key: ref,
        original_id: original,
        amount: c.amount,
        currency: c.currency,
      });
      if (r.kind === "invalid")
        return fault(res, "PolicyException", "POL0523", "NOT_ENOUGH_REFUNDABLE_AMOUNT");
      return answer(ctx, res, r, ns, "refundAmountResponse");
    }
    case "reserveAmount": {
      const c = chargeInfo(p.charge, operator);
      if (c.amount === undefined || c.amount <= 0n)
        return fault(res, "ServiceException", "SVC0007", "Invalid charging information");
      // reserveAmount has no referenceCode in 2.1; Centime puts its attempt id in `charge/code`.
      const key = asText(asRecord(p.charge).code) || ctx.net.nextId("anon");
      const r = ctx.net.charge({
        scope,
        key,
        operator: op,
        protocol: "parlayx",
        msisdn: user(p.endUserIdentifier),
        amount: c.amount,
        currency: c.currency,
        description: c.description,
        kind: "reservation",
      });
      if (r.kind === "applied") r.txn.behaviour = "normal";
      return answer(ctx, res, r, ns, "reserveAmountResponse");
    }
    case "chargeReservation": {
      const c = chargeInfo(p.charge, operator);
      if (c.amount === undefined || !ref)
        return fault(res, "ServiceException", "SVC0007", "Invalid charging information");
      const r = ctx.net.capture({
        scope,
        key: ref,
        reservation_id: asText(p.reservationIdentifier) ?? "",
        amount: c.amount,
      });
      if (r.kind === "invalid") return fault(res, "PolicyException", "POL2010", r.why);
      return answer(ctx, res, r, ns, "chargeReservationResponse");
    }
    case "releaseReservation": {
      const r = ctx.net.release({ reservation_id: asText(p.reservationIdentifier) ?? "" });
      if (!r) return fault(res, "ServiceException", "SVC0002", "Unknown reservation");
      return ok(res, ns, "releaseReservationResponse");
    }
    default:
      return fault(res, "ServiceException", "SVC0002", `Unknown operation ${operation}`);
  }
};

export const parlayxRoutes: Route[] = [
  {
    method: "POST",
    pattern: /^\/(\d{5,6})\/parlayx\/AmountChargingService\/services\/(AmountCharging)$/,
    handle,
  },
  {
    method: "POST",
    pattern: /^\/(\d{5,6})\/parlayx\/ReserveAmountChargingService\/services\/(ReserveAmountCharging)$/,
    handle,
  },
];
