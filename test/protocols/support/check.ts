/**
 * Checks recorded wire exchanges against the project's own protocol schemas: CAMARA (JSON Schema
 * per operation and status, CloudEvents), OneAPI (URI templates, JSON shapes or v1 parameters,
 * `Location` on 201) and Parlay X (SOAP 1.1 envelope, namespaces, element order, faults).
 */
import { XMLParser } from "fast-xml-parser";
import { CAMARA_OPERATIONS, errorSchema } from "../../../src/simulator/protocols/camara.ts";
import { CHARGE_MANDATORY, ONEAPI_PATHS, REFUND_MANDATORY } from "../../../src/simulator/protocols/oneapi.ts";
import {
  CHARGING_INFORMATION,
  PARLAYX_COMMON_NS,
  PARLAYX_LOCAL_NS,
  PARLAYX_OPERATIONS,
  SOAP_ENVELOPE_NS,
} from "../../../src/simulator/protocols/parlayx.ts";
import { schemaProblems } from "../../../src/simulator/protocols/validate.ts";
import type { WireExchange } from "./record.ts";

export type Protocol = "camara" | "oneapi" | "parlayx" | "oauth2" | "other";

export function protocolOf(e: WireExchange): Protocol {
  const path = e.direction === "notification" ? "" : new URL(e.url, "http://x").pathname;
  if (e.direction === "notification")
    return e.headers["content-type"]?.includes("cloudevents") ? "camara" : "oneapi";
  if (/^\/\d{5,6}\/camara\//.test(path)) return "camara";
  if (/^\/\d{5,6}\/oneapi\//.test(path) || /^\/\d{5,6}\/consent$/.test(path)) return "oneapi";
  if (/^\/\d{5,6}\/parlayx\//.test(path)) return "parlayx";
  if (path === "/oauth/token") return "oauth2";
  return "other";
}

function json(text: string): unknown {
  return text === "" ? undefined : JSON.parse(text);
}

export function checkCamara(e: WireExchange): string[] {
  if (e.direction === "notification") {
    const problems: string[] = [];
    if (!e.headers["content-type"]?.startsWith("application/cloudevents+json"))
      problems.push("notification content type");
    if (!/^Bearer \S+$/.test(e.headers.authorization ?? ""))
      problems.push("notification without the sink's bearer token");
    if (!e.url.startsWith("https://")) problems.push("notification to a sink that is not https");
    const event = json(e.body) as { type?: string };
    return [
      ...problems,
      ...schemaProblems(event.type?.includes("refund") ? "RefundEvent" : "PaymentEvent", event),
    ];
  }
  const path = new URL(e.url, "http://x").pathname.replace(/^\/\d{5,6}\/camara/, "");
  const op = CAMARA_OPERATIONS.find((o) => o.method === e.method && o.path.test(path));
  if (!op) return [`no CAMARA operation ${e.method} ${path}`];
  const problems: string[] = [];
  if (!/^Bearer \S+$/.test(e.headers.authorization ?? "")) problems.push(`${op.id}: not a bearer token`);
  if (op.request)
    problems.push(...schemaProblems(op.request, json(e.body)).map((p) => `${op.id} request ${p}`));
  const status = e.response?.status ?? 0;
  const body = e.response?.body ?? "";
  if (status in op.responses) {
    const schema = op.responses[status];
    if (schema === null) {
      if (body !== "") problems.push(`${op.id} ${status} has a body`);
    } else if (schema)
      problems.push(...schemaProblems(schema, json(body)).map((p) => `${op.id} ${status} ${p}`));
  } else {
    const schema = errorSchema(op.id, status);
    if (!schema) problems.push(`${op.id} answered ${status}, which the spec does not list`);
    else problems.push(...schemaProblems(schema, json(body)).map((p) => `${op.id} ${status} ${p}`));
  }
  return problems;
}

export function checkOneApi(e: WireExchange): string[] {
  if (e.direction === "notification")
    return schemaProblems("TransactionResponse", json(e.body)).map((p) => `notification ${p}`);
  const path = new URL(e.url, "http://x").pathname;
  if (/\/consent$/.test(path)) return []; // the operator's own web page, not an API
  const problems: string[] = [];
  const status = e.response?.status ?? 0;
  const body = e.response?.body ?? "";
  const form = e.headers["content-type"]?.includes("x-www-form-urlencoded");
  const check = (schema: Parameters<typeof schemaProblems>[0], value: unknown, what: string) =>
    problems.push(...schemaProblems(schema, value).map((p) => `${what} ${p}`));
  const reservation =
    ONEAPI_PATHS.amountReservation.test(path) || ONEAPI_PATHS.amountReservationTransaction.test(path);
  if (ONEAPI_PATHS.smsOutbound.test(path)) {
    check("SmsRequest", json(e.body), "sms request");
    if (status === 201) check("SmsResponse", json(body), "sms response");
    else check("RequestError", json(body), `sms ${status}`);
    return problems;
  }
  if (!ONEAPI_PATHS.amount.test(path) && !reservation) return [`no OneAPI resource at ${path}`];
  if (e.method === "POST") {
    if (form) {
      const params = new URLSearchParams(e.body);
      const mandatory =
        params.get("transactionOperationStatus")?.toLowerCase() === "refunded"
          ? REFUND_MANDATORY
          : CHARGE_MANDATORY;
      for (const name of mandatory) if (!params.get(name)) problems.push(`form request without ${name}`);
    } else check(reservation ? "ReservationRequest" : "ChargeRequest", json(e.body), "request");
  }
  if (status === 200 || status === 201 || status === 202) {
    check(reservation ? "ReservationResponse" : "TransactionResponse", json(body), `${status} response`);
    if (status === 201 && !e.response?.headers.location) problems.push("201 Created without Location");
  } else check("RequestError", json(body), `${status} response`);
  return problems;
}

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  preserveOrder: true,
  removeNSPrefix: false,
});

export type Node = Record<string, unknown> & { ":@"?: Record<string, string> };

export function nameOf(node: Node): string {
  return Object.keys(node).find((k) => k !== ":@") ?? "";
}
export function childrenOf(node: Node): Node[] {
  const v = node[nameOf(node)];
  return Array.isArray(v) ? (v as Node[]).filter((c) => !("#text" in c)) : [];
}
/** Resolves an element's namespace from the xmlns declarations in scope. */
export function resolve(
  node: Node,
  scope: Record<string, string>,
): { ns: string | undefined; local: string; scope: Record<string, string> } {
  const inner = { ...scope };
  for (const [k, v] of Object.entries(node[":@"] ?? {})) {
    if (k === "@xmlns") inner[""] = v;
    else if (k.startsWith("@xmlns:")) inner[k.slice(7)] = v;
  }
  const [prefix, local] = nameOf(node).includes(":") ? nameOf(node).split(":", 2) : ["", nameOf(node)];
  return { ns: inner[prefix ?? ""], local: local ?? "", scope: inner };
}

export function soapBody(text: string): { node: Node; scope: Record<string, string> } | string {
  const doc = xml.parse(text) as Node[];
  const envelope = doc.find((n) => nameOf(n).endsWith("Envelope"));
  if (!envelope) return "no Envelope";
  const env = resolve(envelope, {});
  if (env.ns !== SOAP_ENVELOPE_NS || env.local !== "Envelope") return `Envelope in ${env.ns}`;
  const body = childrenOf(envelope).find((c) => resolve(c, env.scope).local === "Body");
  if (!body) return "no Body";
  const first = childrenOf(body)[0];
  if (!first) return "empty Body";
  return { node: first, scope: resolve(body, env.scope).scope };
}

export function checkParlayX(e: WireExchange): string[] {
  const problems: string[] = [];
  if (e.headers.soapaction !== '""') problems.push(`SOAPAction ${e.headers.soapaction}`);
  const request = soapBody(e.body);
  if (typeof request === "string") return [`request: ${request}`];
  const req = resolve(request.node, request.scope);
  const op = PARLAYX_OPERATIONS[req.local];
  if (!op) return [`no Parlay X operation ${req.local}`];
  const nsOk = ["v2_1", "v3_1"].some((v) => PARLAYX_LOCAL_NS[op.service](v) === req.ns);
  if (!nsOk) problems.push(`${req.local} in namespace ${req.ns}`);
  const order = childrenOf(request.node).map((c) => resolve(c, req.scope).local);
  if (order.join() !== op.children.join()) problems.push(`${req.local} children ${order.join()}`);
  for (const c of childrenOf(request.node).filter((c) => resolve(c, req.scope).local === "charge")) {
    const fields = childrenOf(c).map((f) => nameOf(f));
    const expected = CHARGING_INFORMATION.filter((f) => fields.includes(f));
    if (fields.join() !== expected.join() || fields[0] !== "description")
      problems.push(`charge members ${fields.join()}`);
  }
  const reply = soapBody(e.response?.body ?? "");
  if (typeof reply === "string") return [...problems, `response: ${reply}`];
  const res = resolve(reply.node, reply.scope);
  if (res.local === "Fault") {
    if (e.response?.status !== 500) problems.push(`fault with HTTP ${e.response?.status}`);
    const detail = childrenOf(reply.node).find((c) => nameOf(c) === "detail");
    const exception = detail ? childrenOf(detail)[0] : undefined;
    const ex = exception ? resolve(exception, res.scope) : undefined;
    if (!ex || ex.ns !== PARLAYX_COMMON_NS || !["ServiceException", "PolicyException"].includes(ex.local))
      problems.push(`fault detail ${ex?.local} in ${ex?.ns}`);
    const id = exception ? childrenOf(exception).find((c) => nameOf(c) === "messageId") : undefined;
    if (!id) problems.push("fault without messageId");
  } else {
    if (res.local !== `${req.local}Response`) problems.push(`answered ${res.local} to ${req.local}`);
    if (res.ns !== req.ns) problems.push(`response namespace ${res.ns}`);
    const members = childrenOf(reply.node).map((c) => resolve(c, res.scope).local);
    if (members.join() !== op.response.join()) problems.push(`${res.local} members ${members.join()}`);
  }
  return problems;
}

export function checkExchange(e: WireExchange): string[] {
  switch (protocolOf(e)) {
    case "camara":
      return checkCamara(e);
    case "oneapi":
      return checkOneApi(e);
    case "parlayx":
      return checkParlayX(e);
    default:
      return [];
  }
}
