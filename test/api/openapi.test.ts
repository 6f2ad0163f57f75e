/**
 * The OpenAPI document is the truth about the API (issue 9, part 3). Walked generically over the
 * route table, so routes added later are held to the same rules:
 * - every route under /v1 is documented, and every documented operation exists;
 * - each has an operationId, a summary, a tag, its parameters, a request schema when it takes a
 *   body, the Idempotency-Key header when it is a POST, a typed success response and the error
 *   envelope for the errors every operation can answer;
 * - request examples are valid by their own schemas;
 * - real answers (a scenario through the main objects, then every list without parameters and
 *   one object of each list) match the documented schema of their status.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { registeredRoutes } from "../../src/http/host.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";
import {
  type Document,
  documentPath,
  type Json,
  loadDocument,
  METHODS,
  type Operation,
  type Response,
  ResponseChecker,
  resolve,
} from "../support/openapi.ts";

let t: TestApp;
let m: MerchantKeys;
let document: Document;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
  document = await loadDocument(t.app);
});
after(() => t.close());

function operations(): Array<{ method: string; path: string; operation: Operation }> {
  const out = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation) out.push({ method, path, operation });
    }
  }
  return out;
}

/** A schema that says something: not `{}`, not an object of unknown fields only. */
function isTyped(schema: Json | undefined): boolean {
  if (!schema) return false;
  if (typeof schema.$ref === "string") return true;
  for (const combinator of ["anyOf", "oneOf", "allOf"]) {
    if (Array.isArray(schema[combinator])) return (schema[combinator] as Json[]).every(isTyped);
  }
  if (schema.type === "object") {
    const properties = (schema.properties as Record<string, Json> | undefined) ?? {};
    // A list says what it lists.
    if (properties.object?.const === "list") return isTyped(properties.data);
    return Object.keys(properties).length > 0;
  }
  if (schema.type === "array") return isTyped(schema.items as Json | undefined);
  return (
    typeof schema.type === "string" || Array.isArray(schema.type) || "const" in schema || "enum" in schema
  );
}

test("every route the server registers under /v1 is in the document, and nothing else is", () => {
  const routes = registeredRoutes(t.app).filter((r) => r.method !== "HEAD");
  const problems: string[] = [];
  const registered = new Set<string>();
  for (const route of routes) {
    const key = `${route.method.toLowerCase()} ${documentPath(route.url)}`;
    registered.add(key);
    if (route.url.startsWith("/v1/") && route.hidden) problems.push(`${key}: hidden from the document`);
    if (route.hidden) continue;
    if (!document.paths[documentPath(route.url)]?.[route.method.toLowerCase()]) {
      problems.push(`${key}: registered, not documented`);
    }
  }
  for (const { method, path } of operations()) {
    if (!registered.has(`${method} ${path}`)) problems.push(`${method} ${path}: documented, not registered`);
  }
  assert.deepEqual(problems, []);
  assert.ok(operations().length >= 100, `${operations().length} operations`);
});

test("every operation has an id, a summary, its parameters, request and response schemas and errors", () => {
  const problems: string[] = [];
  const ids = new Map<string, string>();
  const declared = (document.tags ?? []) as Array<{ name: string; description?: string }>;
  const tags = new Set(declared.filter((tag) => tag.description).map((tag) => tag.name));
  for (const { method, path, operation } of operations()) {
    const at = `${method.toUpperCase()} ${path}`;
    const problem = (what: string) => problems.push(`${at}: ${what}`);
    if (!operation.operationId) problem("no operationId");
    else if (ids.has(operation.operationId)) problem(`operationId also on ${ids.get(operation.operationId)}`);
    else ids.set(operation.operationId, at);
    if (!operation.summary) problem("no summary");
    if (!operation.tags?.length) problem("no tag");
    for (const tag of operation.tags ?? []) {
      if (!tags.has(tag))
        problem(`tag "${tag}" is not declared with a description (TAGS in src/http/openapi.ts)`);
    }

    const parameters = (operation.parameters ?? []).map((p) => resolve<Json>(document, p));
    for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
      if (!parameters.some((p) => p.in === "path" && p.name === name && p.required === true)) {
        problem(`path parameter ${name} not documented`);
      }
    }
    for (const parameter of parameters) {
      if (!isTyped(parameter.schema as Json | undefined))
        problem(`parameter ${parameter.name} has no schema`);
      const schema = parameter.schema as Json | undefined;
      if (parameter.in === "query" && parameter.required === true && schema?.default !== undefined) {
        problem(`query parameter ${parameter.name} has a default but is marked required`);
      }
    }
    if (method === "post") {
      const body = operation.requestBody?.content?.["application/json"]?.schema;
      if (!body || (body.type !== "object" && !body.anyOf && !body.oneOf && !body.$ref)) {
        problem("no JSON request body schema");
      }
      if (!parameters.some((p) => p.in === "header" && p.name === "Idempotency-Key")) {
        problem("no Idempotency-Key header");
      }
    }

    const responses = operation.responses ?? {};
    const successes = Object.keys(responses).filter((s) => /^2\d\d$/.test(s));
    // One success status, besides a four-eyes approval (202) where a write may also wait for a second person.
    const isApproval = (status: string) => {
      const schema = resolve<Response>(document, responses[status]!).content?.["application/json"]?.schema as
        | { properties?: { object?: { const?: string; enum?: string[] } } }
        | undefined;
      const object = schema?.properties?.object;
      return status === "202" && (object?.const === "approval" || object?.enum?.join() === "approval");
    };
    const primary = successes.length === 1 ? successes : successes.filter((s) => !isApproval(s));
    if (primary.length !== 1) problem(`${primary.length} success statuses (${successes.join(", ")})`);
    for (const status of successes) {
      const response = resolve<Response>(document, responses[status]!);
      const content = response.content ?? {};
      const schema = content["application/json"]?.schema ?? Object.values(content)[0]?.schema;
      if (!isTyped(schema)) problem(`${status} response has no schema`);
      if (!response.description || response.description === "Default Response") {
        problem(`${status} response not described`);
      }
    }
    const errors = ["400", "401", "403", "429", "500", "503"];
    if (path.includes("{")) errors.push("404");
    if (method === "post") errors.push("409", "422");
    for (const status of Object.keys(responses).filter((s) => Number(s) >= 400)) {
      if (!errors.includes(status)) errors.push(status);
    }
    for (const status of errors) {
      const declared = responses[status];
      if (!declared) {
        problem(`no ${status} response`);
        continue;
      }
      const schema = resolve<Response>(document, declared).content?.["application/json"]?.schema;
      if (schema?.$ref !== "#/components/schemas/Error") problem(`${status} is not the error envelope`);
    }
  }
  assert.deepEqual(problems, []);
});

test("request examples in the document are valid by their own schemas", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv);
  const problems: string[] = [];
  let examples = 0;
  for (const { method, path, operation } of operations()) {
    const media = operation.requestBody?.content?.["application/json"];
    if (!media?.schema) continue;
    const found: unknown[] = [];
    if (media.example !== undefined) found.push(media.example);
    for (const example of Object.values(media.examples ?? {})) found.push((example as Json).value);
    for (const example of (media.schema.examples as unknown[] | undefined) ?? []) found.push(example);
    const validate = ajv.compile({ allOf: [media.schema], components: document.components });
    for (const example of found) {
      examples++;
      if (!validate(example)) problems.push(`${method} ${path}: ${ajv.errorsText(validate.errors)}`);
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(examples >= 5, `${examples} examples`);
});

test("/docs is Centime's, and its Try it out calls the server it came from", async () => {
  const docs = await t.app.inject({ method: "GET", url: "/docs/" });
  assert.equal(docs.statusCode, 200);
  assert.match(docs.body, /<title>Centime API<\/title>/);
  // Without CENTIME_PUBLIC_URL: relative to the document, whatever port the server listens on (it
  // named 127.0.0.1:8080, so Try it out failed on any other port).
  const served = JSON.parse((await t.app.inject({ method: "GET", url: "/openapi.json" })).body) as {
    servers: Array<{ url: string }>;
  };
  assert.deepEqual(
    served.servers.map((s) => s.url),
    ["/"],
  );
});

test("request examples that name no other object work as they are (what Try it out sends)", async () => {
  const failures: string[] = [];
  let sent = 0;
  for (const { method, path, operation } of operations()) {
    const example = operation.requestBody?.content?.["application/json"]?.example;
    // An example that names another object (cus_…, price_…) needs that object first.
    if (method !== "post" || path.includes("{") || example === undefined) continue;
    if (/"[a-z]+_[0-9a-z]{20,}"/.test(JSON.stringify(example))) continue;
    sent++;
    let reply = await call(t.app, "POST", path, { key: m.secretKey, body: example });
    if (reply.status === 403) reply = await call(t.app, "POST", path, { key: ADMIN_KEY, body: example });
    if (reply.status >= 300) failures.push(`POST ${path} → ${reply.status} ${JSON.stringify(reply.body)}`);
  }
  assert.deepEqual(failures, []);
  assert.ok(sent >= 4, `${sent} examples sent`);
});

test("answers match the documented schema of their status", async () => {
  const checker = new ResponseChecker(document);
  const problems: string[] = [];
  const statuses: string[] = [];
  const checked = async <T = Json>(
    method: "GET" | "POST" | "DELETE",
    url: string,
    body?: unknown,
    key = m.secretKey,
  ) => {
    const headers = method === "POST" ? { "idempotency-key": `openapi-${statuses.length}` } : undefined;
    const options = { key, ...(body === undefined ? {} : { body }), ...(headers ? { headers } : {}) };
    const reply = await call<T>(t.app, method, url, options);
    statuses.push(`${method} ${url} ${reply.status}`);
    problems.push(...checker.problems(method, url, reply.status, reply.body));
    // The documented Idempotency-Key is honoured: the same key answers the same answer again.
    if (headers && reply.status < 300) {
      const again = await call(t.app, method, url, options);
      if (again.status !== reply.status || again.headers["idempotent-replayed"] !== "true") {
        problems.push(`${method} ${url}: the Idempotency-Key was not replayed (${again.status})`);
      }
    }
    return reply;
  };
  const created = async (url: string, body: unknown, key = m.secretKey) => {
    const reply = await checked<{ id: string }>("POST", url, body, key);
    assert.ok(reply.status === 201 || reply.status === 200, `${url}: ${JSON.stringify(reply.body)}`);
    return reply.body.id;
  };

  // Merchants and keys.
  const merchant = await checked<{ merchant: { id: string } }>(
    "POST",
    "/v1/merchants",
    { name: "Docs" },
    ADMIN_KEY,
  );
  await checked("GET", `/v1/merchants/${merchant.body.merchant.id}`, undefined, ADMIN_KEY);
  const keyId = await created("/v1/api_keys", { type: "publishable", name: "web" });
  await checked("GET", `/v1/api_keys/${keyId}`);
  const rolled = await created(`/v1/api_keys/${keyId}/roll`, { expires_in: 60 });
  await checked("DELETE", `/v1/api_keys/${rolled}`);

  // Customers, payments, refunds.
  const customer = await created("/v1/customers", { external_id: "player-1", country: "FR" });
  await checked("GET", `/v1/customers/${customer}`);
  const paid = await created("/v1/payments", sandboxPayment("approve", { customer }));
  await checked("GET", `/v1/payments/${paid}/timeline`);
  const held = await created("/v1/payments", sandboxPayment("approve", { capture: "manual" }));
  await checked("POST", `/v1/payments/${held}/capture`, { amount: 300 });
  const canceled = await created("/v1/payments", sandboxPayment("approve", { capture: "manual" }));
  await checked("POST", `/v1/payments/${canceled}/cancel`, {});
  await checked("POST", `/v1/payments/${paid}/confirm`, { pin: "1234" });
  await checked("POST", "/v1/payments", sandboxPayment("decline_insufficient_funds"));
  await created("/v1/refunds", { payment: paid, amount: 100, reason: "requested" });

  // Billing.
  const product = await created("/v1/products", { name: "Football alerts" });
  await checked("POST", `/v1/products/${product}`, { description: "Goals as they happen" });
  const price = await created("/v1/prices", {
    product,
    amount: 199,
    currency: "EUR",
    recurring: { period: "P1W" },
  });
  await checked("POST", `/v1/prices/${price}`, { active: true });
  const subscription = await created("/v1/subscriptions", {
    customer: await created("/v1/customers", { country: "GB", msisdn: "+447700900123" }),
    price,
    payment_method: { type: "sandbox", scenario: "approve" },
    consent: { method: "web", ip_address: "192.0.2.1", text: "I agree" },
  });
  await checked("POST", `/v1/subscriptions/${subscription}/pause`, {});
  await checked("POST", `/v1/subscriptions/${subscription}/resume`, {});
  await checked("POST", `/v1/subscriptions/${subscription}/confirm`, { pin: "1234" });
  await checked("POST", `/v1/subscriptions/${subscription}/cancel`, {});
  await checked("POST", "/v1/mo_messages", { msisdn: "+447700900123", text: "STOP" });
  await checked("POST", "/v1/dunning_policies", { retry_days_max: 3 });
  const clock = await created("/v1/test_clocks", { frozen_time: "2026-03-01T10:00:00Z" });
  await checked("POST", `/v1/test_clocks/${clock}/advance`, { frozen_time: "2026-03-02T10:00:00Z" });

  // Webhooks and events.
  const endpoint = await created("/v1/webhook_endpoints", {
    url: "https://hooks.example.com/centime",
    events: ["payment.succeeded"],
  });
  await checked("POST", `/v1/webhook_endpoints/${endpoint}`, { description: "orders" });
  await checked("POST", `/v1/webhook_endpoints/${endpoint}/rotate_secret`, {});
  const events = await checked<{ data: Array<{ id: string }> }>("GET", "/v1/events?limit=1");
  const event = events.body.data[0]?.id;
  assert.ok(event, "an event was recorded");
  await checked("POST", `/v1/events/${event}/redeliver`, {});
  await checked("DELETE", `/v1/webhook_endpoints/${endpoint}`);

  // Errors answer the envelope with a documented status.
  await checked("GET", "/v1/customers/cus_missing");
  await checked("POST", "/v1/customers", { country: "ZZ" });
  await checked("GET", "/v1/payments", undefined, "sk_test_not_a_key");
  await checked("POST", "/v1/payments", sandboxPayment("approve"), m.publishableKey);
  await checked("GET", `/v1/merchants/${merchant.body.merchant.id}`);

  // Every list without path parameters, and the first object of each where it can be read alone.
  for (const [path, item] of Object.entries(document.paths)) {
    if (!path.startsWith("/v1/") || path.includes("{") || !item.get) continue;
    let list = await checked<{ object?: string; data?: Array<{ id?: string }> }>("GET", path);
    if (list.status === 403) list = await checked("GET", path, undefined, ADMIN_KEY);
    const id = list.body.object === "list" ? list.body.data?.[0]?.id : undefined;
    if (id && document.paths[`${path}/{id}`]?.get) await checked("GET", `${path}/${id}`);
  }
  for (const status of statuses) assert.doesNotMatch(status, / 5\d\d$/, status);
  assert.deepEqual(problems, []);
});
