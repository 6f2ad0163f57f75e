import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "../connectors/index.ts";
import { bearerScoped, type Route, reply, replyJson, type SimContext } from "./context.ts";
import { type DeclineReason, TEST_PIN, type Txn } from "./network.ts";
import { PAYMENT_STATUSES } from "./protocols/camara.ts";
import { schemaProblems } from "./protocols/validate.ts";

/**
 * CAMARA Carrier Billing v0.5.0 as an operator runs it: `/{mccmnc}/camara/carrier-billing/v0.5`
 * (the operator's `apiRoot` is `/{mccmnc}/camara`). One step, or prepare → validate (operators
 * that ask for a code) → confirm | cancel; listing by creation date; CloudEvents to an `https`
 * sink with the client's bearer token. Requests are checked against the project's schema of the
 * spec: what it refuses is answered 400 `INVALID_ARGUMENT`. Bearer tokens from `/oauth/token` only.
 */

export const CAMARA_DECLINES: Record<DeclineReason, { http: number; code: string; message: string }> = {
  insufficient_funds: {
    http: 403,
    code: "CARRIER_BILLING.PAYMENT_DENIED",
    message: "Payment denied by business.",
  },
  barred: { http: 403, code: "CARRIER_BILLING.PAYMENT_DENIED", message: "Payment denied by business." },
  limit_transaction: {
    http: 422,
    code: "CARRIER_BILLING.UNAUTHORIZED_AMOUNT",
    message: "Unauthorized amount requested.",
  },
  limit_month: {
    http: 422,
    code: "CARRIER_BILLING.USER_AMOUNT_THRESHOLD_OVERPASSED",
    message:
      "Unauthorized payment request. Accumulated user mobile payments overpass account amount threshold.",
  },
  invalid_currency: {
    http: 400,
    code: "INVALID_ARGUMENT",
    message: "Currency is unknown or not authorized.",
  },
  transient: { http: 503, code: "UNAVAILABLE", message: "Service Unavailable." },
};

export function camaraError(res: ServerResponse, status: number, code: string, message: string): void {
  replyJson(res, status, { status, code, message });
}

/** Authenticates with the scope the operation needs; answers 401/403 itself when it fails. */
export function camaraAuth(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  scope: string,
): boolean {
  const a = bearerScoped(ctx, req, scope);
  if (a === "ok") return true;
  if (a === "unauthenticated")
    camaraError(
      res,
      401,
      "UNAUTHENTICATED",
      "Request not authenticated due to missing, invalid, or expired credentials.",
    );
  else
    camaraError(
      res,
      403,
      "PERMISSION_DENIED",
      "Client does not have sufficient permissions to perform this action.",
    );
  return false;
}

function paymentStatus(txn: Txn): string {
  if (txn.extra.reported === "processing") return "processing";
  if (txn.extra.validation === "pending") return "pending_validation";
  switch (txn.status) {
    case "charged":
      return "succeeded";
    case "reserved":
      return "reserved";
    case "released":
      return "cancelled";
    case "processing":
      return "processing";
    default:
      return "denied";
  }
}

export function renderPayment(ctx: SimContext, op: string, txn: Txn): Record<string, unknown> {
  const out: Record<string, unknown> = {
    paymentId: txn.id,
    amountTransaction: {
      phoneNumber: txn.msisdn,
      clientCorrelator: txn.key,
      referenceCode: txn.extra.referenceCode ?? txn.key,
      paymentAmount: {
        chargingInformation: {
          amount: rawNumber(toDecimal(txn.amount, txn.currency)),
          currency: txn.currency,
          description: txn.description,
        },
        ...(txn.extra.merchantIdentifier
          ? { chargingMetaData: { merchantIdentifier: txn.extra.merchantIdentifier } }
          : {}),
      },
      resourceURL: `${ctx.httpUrl()}/${op}/camara/carrier-billing/v0.5/payments/${txn.id}`,
      serverReferenceCode: txn.id,
    },
    paymentStatus: paymentStatus(txn),
    paymentCreationDate: new Date(txn.created_ms).toISOString(),
  };
  if (txn.status === "charged" && txn.extra.reported !== "processing")
    out.paymentDate = new Date(Number(txn.extra.paid_ms ?? txn.created_ms)).toISOString();
  if (txn.extra.sink) out.sink = txn.extra.sink;
  if (txn.extra.validation === "pending")
    out.validationInfo = { action: "validate", authorizationId: txn.extra.authorizationId };
  return out;
}

const json = (v: unknown) => stringifyWithRawNumbers(v);

/** Posts a CloudEvent to the client's sink with the bearer token it gave (`sinkCredential`). */
export function sendCloudEvent(ctx: SimContext, txn: Txn, type: string, data: Record<string, unknown>): void {
  if (!txn.extra.sink) return;
  ctx.notify(txn.extra.sink, JSON.stringify(cloudEvent(ctx, type, data)), {
    "content-type": "application/cloudevents+json",
    ...(txn.extra.sinkToken ? { authorization: `Bearer ${txn.extra.sinkToken}` } : {}),
  });
}

export function cloudEvent(
  ctx: SimContext,
  type: string,
  data: Record<string, unknown>,
): Record<string, unknown> {
  return {
    id: randomBytes(8).toString("hex"),
    source: ctx.httpUrl() || "https://simulator.centime.invalid",
    type,
    specversion: "1.0",
    datacontenttype: "application/json",
    data,
    time: new Date().toISOString(),
  };
}

type Body = {
  amountTransaction: {
    phoneNumber?: string;
    clientCorrelator?: string;
    referenceCode: string;
    paymentAmount: {
      chargingInformation: { amount: number; currency: string; description: string };
      chargingMetaData?: { merchantIdentifier?: string };
    };
  };
  sink?: string;
  sinkCredential?: { credentialType: string; accessToken?: string };
};

/** The body's problems in the spec's own error vocabulary, or undefined when it is acceptable. */
function refusal(
  body: unknown,
  schema: "CreatePayment" | "PreparePayment",
): { code: string; message: string } | undefined {
  const b = body as Partial<Body> | undefined;
  if (b && typeof b.sink === "string" && !/^https:\/\/.+$/.test(b.sink))
    return { code: "INVALID_SINK", message: "sink not valid for the specified protocol" };
  if (b?.sinkCredential && b.sinkCredential.credentialType !== "ACCESSTOKEN")
    return { code: "INVALID_CREDENTIAL", message: "Only Access token is supported" };
  const problems = schemaProblems(schema, body);
  if (problems.length > 0)
    return { code: "INVALID_ARGUMENT", message: `Client specified an invalid argument: ${problems[0]}` };
  return undefined;
}

export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

async function create(
  ctx: SimContext,
  res: ServerResponse,
  op: string,
  raw: string,
  kind: "charge" | "reservation",
) {
  const parsed = parseJson(raw);
  const refused = refusal(parsed, kind === "charge" ? "CreatePayment" : "PreparePayment");
  if (refused) return camaraError(res, 400, refused.code, refused.message);
  const b = parsed as Body;
  const tx = b.amountTransaction;
  if (!tx.phoneNumber)
    return camaraError(res, 422, "MISSING_IDENTIFIER", "The phone number cannot be identified.");
  const ci = tx.paymentAmount.chargingInformation;
  // Amounts are exact decimals: the JSON number is read back from its shortest text.
  const amount = fromDecimal(ci.amount, ci.currency);
  if (amount === undefined)
    return camaraError(
      res,
      400,
      "INVALID_ARGUMENT",
      "Client specified an invalid argument: amount precision",
    );
  await ctx.latency();
  const operator = ctx.net.operator(op);
  const key = tx.clientCorrelator ?? `${tx.referenceCode}#${randomBytes(4).toString("hex")}`;
  const r = ctx.net.charge({
    scope: `${op}/camara`,
    key,
    operator: op,
    protocol: "camara",
    msisdn: tx.phoneNumber,
    amount,
    currency: ci.currency,
    description: ci.description,
    kind,
    extra: {
      referenceCode: tx.referenceCode,
      ...(tx.paymentAmount.chargingMetaData?.merchantIdentifier
        ? { merchantIdentifier: tx.paymentAmount.chargingMetaData.merchantIdentifier }
        : {}),
      ...(b.sink ? { sink: b.sink } : {}),
      ...(b.sinkCredential?.accessToken ? { sinkToken: b.sinkCredential.accessToken } : {}),
    },
  });
  if (r.kind === "transient") return camaraError(res, 503, "UNAVAILABLE", "Service Unavailable.");
  if (r.kind === "replay") {
    // A refused request created no payment: the same request is refused the same way again.
    if (!exists(r.txn) && r.txn.reason) {
      const d = CAMARA_DECLINES[r.txn.reason];
      return camaraError(res, d.http, d.code, d.message);
    }
    return camaraError(res, 400, "INVALID_ARGUMENT", "clientCorrelator already exist on server.");
  }
  if (r.kind === "declined") {
    const d = CAMARA_DECLINES[r.reason];
    return camaraError(res, d.http, d.code, d.message);
  }
  const txn = r.txn;
  if (txn.behaviour === "hang") return ctx.hold(res);
  if (kind === "reservation" && operator?.consent.type === "operator_otp") {
    // The operator asks for a code, texted to the payer, before the reservation holds.
    txn.extra.validation = "pending";
    txn.extra.authorizationId = randomBytes(9).toString("base64url");
    txn.extra.validationAttempts = "0";
    ctx.net.sendSms(op, txn.msisdn, `Your payment code is ${TEST_PIN}. ${txn.description}.`);
  }
  if (txn.behaviour === "callback" && kind === "charge") {
    txn.extra.reported = "processing";
    ctx.later(() => {
      delete txn.extra.reported;
      txn.extra.paid_ms = String(Date.now());
      sendCloudEvent(ctx, txn, "org.camaraproject.carrier-billing.v0.payment-completed", {
        paymentId: txn.id,
        status: "succeeded",
        description: "Payment completed",
        paymentDate: new Date().toISOString(),
      });
    }, ctx.config.callback_delay_ms);
  }
  const body = renderPayment(ctx, op, txn);
  return reply(res, 201, json(body), "application/json", {
    location: String((body.amountTransaction as { resourceURL: string }).resourceURL),
  });
}

/** A request refused with an error created no payment; one denied later (a failed validation) did. */
function exists(t: Txn): boolean {
  return t.status !== "declined" || t.extra.denied === "1";
}

/** The payment a path names, if it is this operator's CAMARA payment. */
export function paymentOf(ctx: SimContext, op: string, id: string): Txn | undefined {
  const t = ctx.net.txnById(id);
  return t &&
    t.operator === op &&
    t.protocol === "camara" &&
    t.kind !== "refund" &&
    exists(t) &&
    !t.key.endsWith("#confirm")
    ? t
    : undefined;
}

function secondStep(
  ctx: SimContext,
  res: ServerResponse,
  op: string,
  id: string,
  action: string,
  raw: string,
) {
  const parsed = parseJson(raw);
  if (schemaProblems("PhoneNumber", parsed).length > 0)
    return camaraError(
      res,
      400,
      "INVALID_ARGUMENT",
      "Client specified an invalid argument, request body or query param.",
    );
  const r = paymentOf(ctx, op, id);
  if (r?.kind !== "reservation")
    return camaraError(res, 404, "NOT_FOUND", "The specified resource is not found.");
  const phone = (parsed as { phoneNumber?: string }).phoneNumber;
  if (phone && phone !== r.msisdn)
    return camaraError(res, 404, "IDENTIFIER_NOT_FOUND", "Device identifier not found.");
  if (r.status === "charged")
    return camaraError(res, 409, "CARRIER_BILLING.PAYMENT_CONFIRMED", "Payment has been confirmed.");
  if (r.status === "released")
    return camaraError(res, 409, "CARRIER_BILLING.PAYMENT_CANCELLED", "Payment has been cancelled.");
  if (action === "cancel") {
    ctx.net.release({ reservation_id: id });
    delete r.extra.validation;
    return reply(res, 202, "");
  }
  if (r.extra.validation === "pending" || r.status !== "reserved")
    return camaraError(res, 403, "CARRIER_BILLING.PAYMENT_DENIED", "Payment denied by business.");
  const result = ctx.net.capture({
    scope: `${op}/camara`,
    key: `${id}#confirm`,
    reservation_id: id,
    amount: r.amount,
  });
  if (result.kind !== "applied" && result.kind !== "replay")
    return camaraError(res, 403, "CARRIER_BILLING.PAYMENT_DENIED", "Payment denied by business.");
  r.status = "charged";
  r.extra.capture_id = result.txn.id;
  r.extra.paid_ms = String(Date.now());
  return reply(res, 202, "");
}

function validate(ctx: SimContext, res: ServerResponse, op: string, id: string, raw: string) {
  const parsed = parseJson(raw);
  if (schemaProblems("ValidatePayment", parsed).length > 0)
    return camaraError(
      res,
      400,
      "INVALID_ARGUMENT",
      "Client specified an invalid argument, request body or query param.",
    );
  const r = paymentOf(ctx, op, id);
  if (r?.kind !== "reservation")
    return camaraError(res, 404, "NOT_FOUND", "The specified resource is not found.");
  const v = parsed as { authorizationId: string; code: string };
  if (r.extra.validation === "done")
    return camaraError(res, 409, "ALREADY_EXISTS", "Payment already validated");
  if (r.extra.validation !== "pending" || v.authorizationId !== r.extra.authorizationId)
    return camaraError(res, 400, "CARRIER_BILLING.INVALID_AUTHORIZATION_ID", "Invalid authorizationId.");
  const attempts = Number(r.extra.validationAttempts ?? 0) + 1;
  r.extra.validationAttempts = String(attempts);
  if (v.code !== TEST_PIN) {
    if (attempts < 3) return camaraError(res, 400, "CARRIER_BILLING.INVALID_CODE", "Invalid code.");
    ctx.net.release({ reservation_id: id });
    r.status = "declined";
    r.extra.denied = "1";
    delete r.extra.validation;
    return camaraError(
      res,
      400,
      "CARRIER_BILLING.VALIDATION_FAILED",
      "the maximum number of attempts have been consumed for this validation.",
    );
  }
  r.extra.validation = "done";
  return reply(res, 204, "");
}

const LIST_PARAMS = new Set([
  "page",
  "perPage",
  "paymentCreationDate.gte",
  "paymentCreationDate.lte",
  "order",
  "paymentStatus",
  "merchantIdentifier",
]);

function list(ctx: SimContext, res: ServerResponse, op: string, url: URL) {
  const q = url.searchParams;
  const bad = (what: string) =>
    camaraError(res, 400, "INVALID_ARGUMENT", `Client specified an invalid argument: ${what}`);
  for (const name of q.keys()) if (!LIST_PARAMS.has(name)) return bad(name);
  const page = Number(q.get("page") ?? 1);
  const perPage = Number(q.get("perPage") ?? 10);
  if (!Number.isInteger(page) || page < 1 || !Number.isInteger(perPage) || perPage < 1) return bad("page");
  const date = (name: string) => {
    const v = q.get(name);
    if (v === null) return undefined;
    const ms = Date.parse(v);
    return /(Z|[+-]\d{2}:\d{2})$/.test(v) && Number.isFinite(ms) ? ms : Number.NaN;
  };
  const gte = date("paymentCreationDate.gte");
  const lte = date("paymentCreationDate.lte") ?? (gte !== undefined ? Date.now() : undefined);
  if (Number.isNaN(gte) || Number.isNaN(lte)) return bad("paymentCreationDate");
  if (gte !== undefined && lte !== undefined && gte > lte)
    return camaraError(
      res,
      400,
      "CARRIER_BILLING.INVALID_DATE_RANGE",
      "Client specified an invalid date range.",
    );
  const order = q.get("order") ?? "desc";
  if (order !== "asc" && order !== "desc") return bad("order");
  const statuses = q.getAll("paymentStatus").flatMap((s) => s.split(","));
  if (statuses.some((s) => !PAYMENT_STATUSES.includes(s))) return bad("paymentStatus");
  const merchant = q.get("merchantIdentifier");
  const all = [...ctx.net.txnsIn(`${op}/camara`)]
    .filter((t) => t.kind !== "refund" && !t.key.endsWith("#confirm") && exists(t))
    .filter((t) => (gte === undefined || t.created_ms >= gte) && (lte === undefined || t.created_ms <= lte))
    .filter((t) => merchant === null || t.extra.merchantIdentifier === merchant)
    .filter((t) => statuses.length === 0 || statuses.includes(paymentStatus(t)))
    .sort(
      (a, b) =>
        (order === "asc" ? a.created_ms - b.created_ms : b.created_ms - a.created_ms) ||
        a.id.localeCompare(b.id),
    );
  const start = (page - 1) * perPage;
  const slice = all.slice(start, start + perPage);
  return reply(res, 200, json(slice.map((t) => renderPayment(ctx, op, t))), "application/json", {
    "x-total-count": String(all.length),
    "content-last-key": String(start + slice.length),
  });
}

const BASE = "^/(\\d{5,6})/camara/carrier-billing/v0\\.5/payments";
const CREATE = "carrier-billing:payments:create";
const READ = "carrier-billing:payments:read";
const WRITE = "carrier-billing:payments:write";

export const camaraRoutes: Route[] = [
  {
    method: "POST",
    pattern: new RegExp(`${BASE}$`),
    handle: (ctx, req, res, [op = ""], body) =>
      camaraAuth(ctx, req, res, CREATE) ? create(ctx, res, op, body, "charge") : undefined,
  },
  {
    method: "POST",
    pattern: new RegExp(`${BASE}/prepare$`),
    handle: (ctx, req, res, [op = ""], body) =>
      camaraAuth(ctx, req, res, CREATE) ? create(ctx, res, op, body, "reservation") : undefined,
  },
  {
    method: "POST",
    pattern: new RegExp(`${BASE}/([^/]+)/validate$`),
    handle: (ctx, req, res, [op = "", id = ""], body) =>
      camaraAuth(ctx, req, res, WRITE) ? validate(ctx, res, op, id, body) : undefined,
  },
  {
    method: "POST",
    pattern: new RegExp(`${BASE}/([^/]+)/(confirm|cancel)$`),
    async handle(ctx, req, res, [op = "", id = "", action = ""], body) {
      if (!camaraAuth(ctx, req, res, WRITE)) return;
      await ctx.latency();
      secondStep(ctx, res, op, id, action, body);
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`${BASE}/([^/]+)$`),
    handle(ctx, req, res, [op = "", id = ""]) {
      if (!camaraAuth(ctx, req, res, READ)) return;
      const txn = paymentOf(ctx, op, id);
      if (!txn) return camaraError(res, 404, "NOT_FOUND", "The specified resource is not found.");
      return reply(res, 200, json(renderPayment(ctx, op, txn)));
    },
  },
  {
    method: "GET",
    pattern: new RegExp(`${BASE}$`),
    handle: (ctx, req, res, [op = ""], _b, url) =>
      camaraAuth(ctx, req, res, READ) ? list(ctx, res, op, url) : undefined,
  },
];
