/**
 * A schema fuzzer over the OpenAPI document: for every operation it builds requests from the
 * operation's own schemas (path parameters, query, JSON body), mostly valid with hostile values
 * mixed in at every level (U+0000, lone surrogates, JavaScript member names as keys, dates out
 * of range, numbers past 2^53, wrong types, unknown fields, malformed percent-encodings), sends
 * them, and checks the contract: never a 5xx, and every 4xx is the error envelope with a code
 * from the catalogue and the request's id. Used by test/api/fuzz.test.ts (seeded, bounded) and
 * bench/fuzz.ts (long runs).
 */
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { ERROR_CATALOGUE } from "../../src/platform/errors.ts";

type Schema = Record<string, unknown>;
export interface Operation {
  method: "GET" | "POST" | "DELETE";
  path: string;
  pathParams: string[];
  query: Array<{ name: string; schema: Schema; required: boolean }>;
  body: Schema | null;
}
export interface FuzzRequest {
  operation: Operation;
  url: string;
  body: unknown;
  /** Which credential: the merchant's secret key, its publishable key, the admin key, none. */
  key: "secret" | "publishable" | "admin" | "none";
  rawBody?: string;
}

export function operationsOf(document: { paths: Record<string, Record<string, Schema>> }): Operation[] {
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = (operation.parameters ?? []) as Array<{
        in: string;
        name: string;
        schema: Schema;
        required?: boolean;
      }>;
      const content = (operation.requestBody as { content?: Record<string, { schema: Schema }> } | undefined)
        ?.content;
      operations.push({
        method: method.toUpperCase() as Operation["method"],
        path,
        pathParams: parameters.filter((p) => p.in === "path").map((p) => p.name),
        query: parameters
          .filter((p) => p.in === "query")
          .map((p) => ({ name: p.name, schema: p.schema, required: p.required === true })),
        body: content?.["application/json"]?.schema ?? null,
      });
    }
  }
  return operations;
}

const hostileString = fc.constantFrom(
  "a\u0000b",
  "\u0000",
  "a\ud800b",
  "\udc00",
  "x".repeat(6000),
  "constructor",
  "__proto__",
  "toString",
  "-271821-04-20T00:00:00Z",
  "0000-01-01T00:00:00Z",
  "10000-01-01T00:00:00Z",
  "2026-13-45T00:00:00Z",
  "999999999999",
  "%",
  "%zz",
  "'; drop table payments; --",
  "<script>alert(1)</script>",
  "😀".repeat(50),
  "",
  " ",
);
const hostileNumber = fc.constantFrom(
  0,
  -1,
  2 ** 53,
  2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER,
  1e300,
  -1e300,
  0.5,
  1e-7,
  9_999_999_999,
  10_000_000_000,
);
const hostileAny: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hostileNumber,
  fc.constant(null),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
  fc.jsonValue({ maxDepth: 2 }),
  fc.constant({ constructor: 1, toString: "x" }),
);

/** A value for a JSON schema: mostly valid, sometimes hostile, at every level. */
export function arbitraryFor(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  const valid = validFor(schema ?? {}, depth);
  return fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: hostileAny, weight: 1 });
}

function validFor(schema: Schema, depth: number): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return fc.constantFrom(...schema.enum);
  if ("const" in schema) return fc.constant(schema.const);
  const choices = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  if (choices && choices.length > 0) return fc.oneof(...choices.map((c) => arbitraryFor(c, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return stringFor(schema);
    case "integer": {
      const min = typeof schema.minimum === "number" ? schema.minimum : -1000;
      const max = typeof schema.maximum === "number" ? schema.maximum : 1_000_000;
      return fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, Number.MAX_SAFE_INTEGER) });
    }
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      if (depth > 4) return fc.constant([]);
      const maxLength = Math.min(typeof schema.maxItems === "number" ? schema.maxItems : 3, 3);
      return fc.array(arbitraryFor(schema.items as Schema, depth + 1), { maxLength });
    }
    case "object":
      return objectFor(schema, depth);
    default:
      return depth > 4 ? fc.constant(null) : fc.jsonValue({ maxDepth: 2 });
  }
}

function stringFor(schema: Schema): fc.Arbitrary<string> {
  if (schema.format === "date-time") {
    return fc
      .date({
        min: new Date("1970-01-01T00:00:00Z"),
        max: new Date("2100-01-01T00:00:00Z"),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString());
  }
  const maxLength = typeof schema.maxLength === "number" ? Math.min(schema.maxLength, 80) : 40;
  const minLength = typeof schema.minLength === "number" ? Math.min(schema.minLength, maxLength) : 0;
  if (typeof schema.pattern === "string") {
    return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= 200);
  }
  return fc.oneof(
    fc.string({ minLength, maxLength }),
    fc.string({ minLength, maxLength, unit: "grapheme" }),
    fc.constantFrom("cus_", "pay_01kk6e9ar1n5erq4ear0f8rrn1", "re_x", "approve", "EUR"),
  );
}

function objectFor(schema: Schema, depth: number): fc.Arbitrary<unknown> {
  if (depth > 4) return fc.constant({});
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  const names = Object.keys(properties);
  const known =
    names.length === 0
      ? fc.constant({})
      : fc.record(
          Object.fromEntries(names.map((name) => [name, arbitraryFor(properties[name], depth + 1)])),
          { requiredKeys: names.filter((n) => required.has(n)) },
        );
  const additional = schema.additionalProperties;
  const extraKeys =
    additional && typeof additional === "object"
      ? fc.dictionary(
          fc.oneof(
            fc.string({ maxLength: 20 }),
            hostileString.filter((k) => k.length <= 40),
          ),
          arbitraryFor(additional as Schema, depth + 1),
          { maxKeys: 3 },
        )
      : fc.oneof(
          { arbitrary: fc.constant({}), weight: 9 },
          {
            arbitrary: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 }), {
              maxKeys: 2,
            }),
            weight: 1,
          },
        );
  return fc.tuple(known, extraKeys).map(([a, b]) => {
    // Built with defineProperty: a generated "__proto__" key is an own key, as JSON would make it.
    const out: Record<string, unknown> = {};
    for (const [k, v] of [...Object.entries(b as object), ...Object.entries(a as object)]) {
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return out;
  });
}

/** encodeURIComponent refuses lone surrogates: those go as their (invalid) UTF-8 bytes instead. */
function encodePathValue(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(value.replace(/[\ud800-\udfff]/g, "")) + "%ED%A0%80";
  }
}

const pathValue = fc.oneof(
  {
    arbitrary: fc
      .constantFrom("pay_01kk6e9ar1n5erq4ear0f8rrn1", "cus_x", "we_1", "x")
      .map(encodeURIComponent),
    weight: 4,
  },
  { arbitrary: fc.string({ maxLength: 30 }).map(encodePathValue), weight: 3 },
  { arbitrary: hostileString.map((s) => encodePathValue(s.slice(0, 300))), weight: 2 },
  { arbitrary: fc.constantFrom("%", "%zz", "%00", "%ED%A0%80", "a".repeat(250)), weight: 1 },
);

export function requestsFor(operation: Operation): fc.Arbitrary<FuzzRequest> {
  const path = fc.tuple(...operation.pathParams.map(() => pathValue)).map((values) => {
    let url = operation.path;
    operation.pathParams.forEach((name, i) => {
      url = url.replace(`{${name}}`, values[i] ?? "x");
    });
    return url;
  });
  const query =
    operation.query.length === 0
      ? fc.constant("")
      : fc
          .record(Object.fromEntries(operation.query.map((q) => [q.name, arbitraryFor(q.schema)])), {
            requiredKeys: [],
          })
          .map((values) => {
            const search = new URLSearchParams();
            for (const [k, v] of Object.entries(values)) {
              search.append(k, typeof v === "string" ? v : (JSON.stringify(v) ?? ""));
            }
            const text = search.toString();
            return text ? `?${text}` : "";
          });
  const body = operation.body ? arbitraryFor(operation.body) : fc.constant(undefined);
  const key = fc.constantFrom<FuzzRequest["key"]>(
    "secret",
    "secret",
    "secret",
    "secret",
    "publishable",
    "admin",
    "none",
  );
  const raw = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 19 },
    { arbitrary: fc.constantFrom("{", "[]", "null", '"x"', "1", '{"a":1,}', "\u0000"), weight: 1 },
  );
  return fc
    .record({ url: fc.tuple(path, query).map(([p, q]) => p + q), body, key, rawBody: raw })
    .map((r) => ({
      operation,
      url: r.url,
      body: r.body,
      key: r.key,
      ...(r.rawBody === undefined ? {} : { rawBody: r.rawBody }),
    }));
}

/** Payment methods that reach the outside (operators, the card PSP) are left to their own tests. */
export function staysInProcess(request: FuzzRequest): boolean {
  const method = (request.body as { payment_method?: { type?: unknown } } | null)?.payment_method;
  return !(method && typeof method === "object" && (method.type === "carrier" || method.type === "card"));
}

export interface FuzzKeys {
  secret: string;
  publishable: string;
  admin: string;
}

/** Sends one request; throws with the request and the answer when the contract is broken. */
export async function sendAndCheck(
  app: FastifyInstance,
  keys: FuzzKeys,
  request: FuzzRequest,
  timings?: Map<string, number>,
): Promise<number> {
  const startedMs = performance.now();
  const headers: Record<string, string> = { "idempotency-key": `fuzz-${Math.random()}` };
  if (request.key !== "none") headers.authorization = `Bearer ${keys[request.key]}`;
  let payload: string | undefined;
  if (request.rawBody !== undefined) payload = request.rawBody;
  else if (request.body !== undefined && request.operation.method !== "GET")
    payload = JSON.stringify(request.body);
  if (payload !== undefined) headers["content-type"] = "application/json";
  const response = await app.inject({
    method: request.operation.method,
    url: request.url,
    headers,
    ...(payload === undefined ? {} : { payload }),
  });
  const label = `${request.operation.method} ${request.operation.path}`;
  timings?.set(label, (timings.get(label) ?? 0) + performance.now() - startedMs);
  const problem = (why: string) =>
    new Error(
      `${why}: ${request.operation.method} ${request.url} (${request.key} key) ` +
        `body ${payload?.slice(0, 500)} → ${response.statusCode} ${response.body.slice(0, 500)}`,
    );
  if (response.statusCode >= 500) throw problem("a 5xx");
  if (response.statusCode >= 400) {
    let body: { error?: Record<string, unknown> };
    try {
      body = JSON.parse(response.body);
    } catch {
      throw problem("a 4xx that is not JSON");
    }
    const error = body.error;
    if (!error || typeof error.message !== "string" || typeof error.type !== "string") {
      throw problem("a 4xx without the error envelope");
    }
    if (!Object.hasOwn(ERROR_CATALOGUE, String(error.code))) throw problem("a code outside the catalogue");
    if (error.request_id !== response.headers["request-id"]) throw problem("an error without its request id");
  }
  return response.statusCode;
}
