/**
 * `.ci/run` step: records the same run as the protocol-validation test and checks every exchange
 * against the published specifications themselves (../shared/specs/protocols): the CAMARA
 * OpenAPI documents (operations, request and response schemas, error responses, CloudEvents),
 * OneAPI's URI templates and JSON shapes, and the Parlay X WSDL/XSD (namespaces, sequences).
 * Usage: node --import tsx test/protocols/published.ts <specs folder>. Exit 1 on any problem.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";
import { childrenOf, nameOf, protocolOf, resolve, soapBody } from "./support/check.ts";
import { recordExchanges, type WireExchange } from "./support/record.ts";

type Doc = Record<string, unknown> & {
  paths: Record<string, Record<string, Operation>>;
  servers: { url: string }[];
};
type Operation = {
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, unknown>;
};

const dir = process.argv[2] ?? "../shared/specs/protocols";
const ajv = new Ajv({ allErrors: true, strict: false, multipleOfPrecision: 9 });
addFormats.default(ajv);
for (const f of ["float", "double", "int32", "int64"]) ajv.addFormat(f, true);

const camaraDocs: Array<{ id: string; base: string; doc: Doc }> = [
  ["camara-payments", "camara/carrier-billing.v0.5.0.yaml"],
  ["camara-refunds", "camara/carrier-billing-refund.v0.3.0.yaml"],
].map(([id = "", file = ""]) => {
  const doc = parseYaml(readFileSync(join(dir, file), "utf8")) as Doc;
  ajv.addSchema(doc, id);
  return { id, base: (doc.servers[0]?.url ?? "").replace("{apiRoot}", ""), doc };
});

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

function validate(id: string, path: string, value: unknown): string[] {
  const v = ajv.compile({ $ref: `${id}#/${path}` });
  return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
}

/** Follows a `$ref` inside a document (responses are often `#/components/responses/…`). */
function deref(doc: Doc, value: unknown): { node: unknown; path: string } | undefined {
  const ref = (value as { $ref?: string } | undefined)?.$ref;
  if (!ref) return undefined;
  const parts = ref.replace(/^#\//, "").split("/");
  let node: unknown = doc;
  for (const p of parts) node = (node as Record<string, unknown>)[p.replace(/~1/g, "/").replace(/~0/g, "~")];
  return { node, path: ref.replace(/^#\//, "") };
}

function checkCamara(e: WireExchange): string[] {
  if (e.direction === "notification") {
    const event = JSON.parse(e.body) as { type?: string };
    const entry = camaraDocs.find((d) =>
      event.type?.includes(d.id === "camara-refunds" ? "refund" : "carrier-billing.v0.payment"),
    );
    if (!entry) return [`unknown event type ${event.type}`];
    const mapping = (
      entry.doc.components as {
        schemas: { CloudEvent: { discriminator: { mapping: Record<string, string> } } };
      }
    ).schemas.CloudEvent.discriminator.mapping;
    const target = mapping[event.type ?? ""];
    if (!target) return [`event type ${event.type} is not in the spec`];
    return validate(entry.id, target.replace(/^#\//, ""), event);
  }
  const path = new URL(e.url, "http://x").pathname.replace(/^\/\d{5,6}\/camara/, "");
  for (const { id, base, doc } of camaraDocs) {
    if (!path.startsWith(`${base}/`)) continue;
    const rest = path.slice(base.length);
    const template = Object.keys(doc.paths)
      .filter((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(rest))
      .sort((a, b) => a.split("{").length - b.split("{").length)[0];
    if (!template) return [`${path}: no such path in ${id}`];
    const op = doc.paths[template]?.[e.method.toLowerCase()];
    if (!op) return [`${e.method} ${template}: no such operation in ${id}`];
    const problems: string[] = [];
    if (op.requestBody) {
      const where = pointer(
        "paths",
        template,
        e.method.toLowerCase(),
        "requestBody",
        "content",
        "application/json",
        "schema",
      );
      problems.push(...validate(id, where, JSON.parse(e.body)).map((p) => `request ${p}`));
    }
    const status = String(e.response?.status ?? 0);
    const declared = op.responses[status];
    if (!declared) return [...problems, `${e.method} ${template} answered ${status}, not in the spec`];
    const resolved = deref(doc, declared);
    const content = ((resolved?.node ?? declared) as { content?: Record<string, unknown> }).content;
    const body = e.response?.body ?? "";
    if (!content) {
      if (body !== "") problems.push(`${status} has a body the spec does not define`);
      return problems;
    }
    const where = resolved
      ? pointer(...resolved.path.split("/"), "content", "application/json", "schema")
      : pointer(
          "paths",
          template,
          e.method.toLowerCase(),
          "responses",
          status,
          "content",
          "application/json",
          "schema",
        );
    problems.push(...validate(id, where, JSON.parse(body)).map((p) => `${status} ${p}`));
    return problems;
  }
  return [`${path}: under no published base path`];
}

const shapes = JSON.parse(readFileSync(join(dir, "oneapi/payment-shapes.json"), "utf8")) as {
  uris: Record<string, string>;
  charge_params: { mandatory: string[] };
  refund_params: { mandatory: string[] };
  response: {
    status: Record<string, number>;
    headers: Record<string, string>;
    body: { amountTransaction: Record<string, unknown> };
  };
  reservation_response: { amountReservationTransaction: Record<string, unknown> };
};

/** Members of a shape, flattened to dotted names (`paymentAmount.chargingInformation.amount`). */
function members(value: unknown, prefix = ""): string[] {
  if (!value || typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => [`${prefix}${k}`, ...members(v, `${prefix}${k}.`)]);
}

function checkOneApi(e: WireExchange): string[] {
  if (e.direction === "notification" || /\/consent$/.test(e.url) || /smsmessaging/.test(e.url)) return [];
  const path = new URL(e.url, "http://x").pathname;
  const matches = Object.values(shapes.uris).some((t) =>
    new RegExp(`^${t.replace("{serverRoot}", ".*").replace(/\{[^}]+\}/g, "[^/]+")}$`).test(path),
  );
  const problems = matches ? [] : [`${path} matches no OneAPI URI template`];
  if (e.method === "POST" && !/amountReservation/.test(path)) {
    const form = e.headers["content-type"]?.includes("x-www-form-urlencoded");
    const params = form ? new URLSearchParams(e.body) : undefined;
    const tx = form
      ? undefined
      : (JSON.parse(e.body) as { amountTransaction: Record<string, unknown> }).amountTransaction;
    const flat = (name: string): unknown => {
      if (params) return params.get(name) ?? undefined;
      const ci = (tx?.paymentAmount as { chargingInformation?: Record<string, unknown> } | undefined)
        ?.chargingInformation;
      return tx?.[name] ?? ci?.[name];
    };
    const refund = String(flat("transactionOperationStatus")).toLowerCase() === "refunded";
    for (const name of (refund ? shapes.refund_params : shapes.charge_params).mandatory)
      if (flat(name) === undefined || flat(name) === "") problems.push(`request without mandatory ${name}`);
  }
  const status = e.response?.status ?? 0;
  const body = JSON.parse(e.response?.body || "{}") as Record<string, unknown>;
  if (status === 200 || status === 201 || status === 202) {
    if (status !== 200 && !Object.values(shapes.response.status).includes(status))
      problems.push(`status ${status}`);
    if (status === 201 && !e.response?.headers.location) problems.push("201 without Location");
    const wrapper = "amountTransaction" in body ? "amountTransaction" : "amountReservationTransaction";
    const shape = wrapper === "amountTransaction" ? shapes.response.body : shapes.reservation_response;
    const known = new Set(members(shape));
    for (const m of members(body))
      if (!known.has(m)) problems.push(`response member ${m} is not in the shape`);
  } else {
    const error = body.requestError as Record<string, { messageId?: unknown; text?: unknown }> | undefined;
    const ex = error?.serviceException ?? error?.policyException;
    if (!ex || typeof ex.messageId !== "string" || typeof ex.text !== "string")
      problems.push(`${status} is not a requestError`);
  }
  return problems;
}

/** Each schema's complexType sequences in the published WSDL/XSD files, by target namespace. */
function xsdSequences(): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  for (const file of [
    "parlayx_payment_amount_charging_interface_2_1.wsdl",
    "parlayx_payment_reserve_amount_charging_interface_2_1.wsdl",
    "parlayx_common_types_2_1.xsd",
  ]) {
    const text = readFileSync(join(dir, "parlayx", file), "utf8");
    for (const schema of text.split(/<xsd:schema\b/).slice(1)) {
      const ns = /targetNamespace="([^"]+)"/.exec(schema)?.[1] ?? "";
      const types = out.get(ns) ?? new Map<string, string[]>();
      for (const m of schema.matchAll(/<xsd:complexType name="(\w+)">([\s\S]*?)<\/xsd:complexType>/g))
        types.set(
          m[1] ?? "",
          [...(m[2] ?? "").matchAll(/<xsd:element name="(\w+)"/g)].map((x) => x[1] ?? ""),
        );
      out.set(ns, types);
    }
  }
  return out;
}
const sequences = xsdSequences();
const COMMON = [...sequences.keys()].find((ns) => ns.includes("/common/")) ?? "";

function checkParlayX(e: WireExchange): string[] {
  const request = soapBody(e.body);
  if (typeof request === "string") return [request];
  const req = resolve(request.node, request.scope);
  // Huawei SDPs run the same messages under v3_1: compared with the v2_1 definitions.
  const ns = (req.ns ?? "").replace("/v3_1/", "/v2_1/");
  const types = sequences.get(ns);
  if (!types) return [`namespace ${req.ns} is not a published Parlay X payment schema`];
  const expected = types.get(req.local);
  if (!expected) return [`${req.local} is not an operation of ${ns}`];
  const problems: string[] = [];
  const got = childrenOf(request.node).map((c) => resolve(c, req.scope).local);
  if (got.join() !== expected.join())
    problems.push(`${req.local}: ${got.join()} instead of ${expected.join()}`);
  const charging = sequences.get(COMMON)?.get("ChargingInformation") ?? [];
  for (const c of childrenOf(request.node).filter((c) => resolve(c, req.scope).local === "charge")) {
    const fields = childrenOf(c).map(nameOf);
    if (fields.join() !== charging.filter((f) => fields.includes(f)).join())
      problems.push(`charge: ${fields.join()}`);
  }
  const reply = soapBody(e.response?.body ?? "");
  if (typeof reply === "string") return [...problems, reply];
  const res = resolve(reply.node, reply.scope);
  if (res.local === "Fault") {
    const detail = childrenOf(reply.node).find((c) => nameOf(c) === "detail");
    const exception = detail ? childrenOf(detail)[0] : undefined;
    const ex = exception ? resolve(exception, res.scope) : undefined;
    const members = exception ? childrenOf(exception).map(nameOf) : [];
    const declared = ex ? sequences.get(ex.ns ?? "")?.get(ex.local) : undefined;
    if (!declared || members.some((m) => !declared.includes(m)))
      problems.push(`fault detail ${ex?.local} (${members.join()})`);
  } else {
    const declared = types.get(res.local);
    if (!declared) problems.push(`${res.local} is not in ${ns}`);
    else if (
      childrenOf(reply.node)
        .map((c) => resolve(c, res.scope).local)
        .join() !== declared.join()
    )
      problems.push(`${res.local} members`);
  }
  return problems;
}

const exchanges = await recordExchanges();
const counts: Record<string, number> = {};
let failed = 0;
for (const e of exchanges) {
  const protocol = protocolOf(e);
  const check =
    protocol === "camara"
      ? checkCamara
      : protocol === "oneapi"
        ? checkOneApi
        : protocol === "parlayx"
          ? checkParlayX
          : undefined;
  if (!check) continue;
  counts[protocol] = (counts[protocol] ?? 0) + 1;
  const problems = check(e);
  if (problems.length > 0) {
    failed += 1;
    console.log(`not ok ${protocol} ${e.method} ${e.url.slice(0, 100)}\n  ${problems.join("\n  ")}`);
  }
}
const checked = Object.values(counts).reduce((a, b) => a + b, 0);
console.log(`published specifications (${dir}): ${JSON.stringify(counts)}`);
console.log(`${checked - failed} passed, ${failed} failed`);
process.exit(failed === 0 && checked > 0 ? 0 : 1);
