import type { SwaggerOptions } from "@fastify/swagger";
import { ERROR_CATALOGUE } from "../platform/errors.ts";

/**
 * The OpenAPI document (`/openapi.json`): what each route declares (operationId, summary, request
 * and success schemas: the TypeBox schemas that validate), completed here with what every route
 * of the API shares and no route should have to repeat: the error envelope for the errors the
 * edge, the surfaces and the idempotency gate answer, the Idempotency-Key header of every POST,
 * and `required: false` on query parameters that have a default.
 *
 * A route declares the errors of its own (a 402, a 409 on a state) with `"x-errors": [402, 409]`
 * in its schema: Fastify ignores the key and the document turns it into error responses.
 */

type Json = Record<string, unknown>;

const ERROR_REF = { $ref: "#/components/schemas/Error" };

/** Codes per HTTP status, from the one catalogue. */
function codesByStatus(): Map<number, string[]> {
  const byStatus = new Map<number, string[]>();
  for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
    const list = byStatus.get(entry.status) ?? [];
    list.push(code);
    byStatus.set(entry.status, list);
  }
  return byStatus;
}

const STATUS_TEXT: Record<number, string> = {
  400: "The request is not valid: `error.param` names the field.",
  401: "No API key, or not a valid one.",
  402: "The payment was declined.",
  403: "The key may not do this.",
  404: "No such object (or not visible to this key).",
  409: "The object's state does not allow this, or a request with this Idempotency-Key is still running.",
  410: "Gone.",
  413: "The request body is larger than 64 KiB.",
  414: "A path segment is longer than 200 characters.",
  415: "The request body is not `application/json`.",
  422: "This Idempotency-Key was used with a different request.",
  429: "Too many requests: retry after the seconds in `Retry-After`.",
  500: "Something went wrong on our side; it has been logged with the Request-Id.",
  502: "The provider refused or failed; nothing was changed.",
  503: "The database did not answer in time: retry after the seconds in `Retry-After` (with the same Idempotency-Key).",
};

/** The error statuses every operation of the API can answer, whatever its route. */
function sharedErrorStatuses(method: string, path: string, hasBody: boolean): number[] {
  const statuses = [400, 401, 403, 429, 500, 503];
  if (path.includes("{")) statuses.push(404);
  if (method === "post") statuses.push(409, 422);
  if (hasBody) statuses.push(413, 415);
  return statuses;
}

function errorResponse(
  status: number,
  codes: string[],
  description?: string,
): { description: string } & Json {
  const text = description ?? STATUS_TEXT[status];
  return {
    description: `${text ?? "Error."}${codes.length > 0 ? ` Codes: ${codes.map((c) => `\`${c}\``).join(", ")}.` : ""}`,
    ...(status === 429 || status === 503
      ? { headers: { "Retry-After": { $ref: "#/components/headers/RetryAfter" } } }
      : {}),
    content: { "application/json": { schema: ERROR_REF } },
  };
}

const METHODS = ["get", "post", "put", "patch", "delete"];

/** Fills in, for every operation under /v1, what all operations share (see the header comment). */
export function completeDocument(document: Json): Json {
  const byStatus = codesByStatus();
  const used = new Set<string>();
  const paths = (document.paths ?? {}) as Record<string, Record<string, Json>>;
  for (const [path, item] of Object.entries(paths)) {
    if (!path.startsWith("/v1/")) continue;
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const parameters = ((operation.parameters as Json[] | undefined) ?? []).map((parameter) =>
        parameter.in === "query" && (parameter.schema as Json | undefined)?.default !== undefined
          ? { ...parameter, required: false }
          : parameter,
      );
      if (method === "post") parameters.push({ $ref: "#/components/parameters/IdempotencyKey" });
      if (parameters.length > 0) operation.parameters = parameters;

      if (operation.requestBody && JSON.stringify(operation.requestBody).includes('"discriminator"')) {
        operation.requestBody = withoutInlineDiscriminators(structuredClone(operation.requestBody));
      }

      const responses = (operation.responses ?? {}) as Record<string, Json>;
      const own = (operation["x-errors"] as number[] | undefined) ?? [];
      delete operation["x-errors"];
      const statuses = new Set([
        ...sharedErrorStatuses(method, path, operation.requestBody !== undefined),
        ...own,
        ...Object.keys(responses)
          .map(Number)
          .filter((s) => s >= 400),
      ]);
      for (const status of [...statuses].sort((a, b) => a - b)) {
        const description = responses[String(status)]?.description as string | undefined;
        // The shared answer by reference, unless the route says something of its own.
        responses[String(status)] =
          description && description !== "Default Response"
            ? errorResponse(status, byStatus.get(status) ?? [], description)
            : { $ref: `#/components/responses/Error${status}` };
      }
      // Successes keep their schema; the description says what they are.
      for (const [status, response] of Object.entries(responses)) {
        if (Number(status) < 300 && response.description === "Default Response") {
          response.description = Number(status) === 201 ? "Created." : "OK.";
        }
      }
      operation.responses = responses;
      for (const response of Object.values(responses)) {
        if (typeof response.$ref === "string") used.add(response.$ref.split("/").pop() ?? "");
      }
    }
  }
  // Shared error responses no operation refers to are left out.
  const components = (document.components ?? {}) as { responses?: Record<string, Json> };
  for (const name of Object.keys(components.responses ?? {})) {
    if (!used.has(name)) delete components.responses?.[name];
  }
  return document;
}

/**
 * The request validator (Ajv) uses `discriminator` over inline variants to name the wrong field;
 * in OpenAPI a discriminator selects named ($ref) schemas only, so the document leaves it out:
 * each inline variant's `type` constant selects it just as well. Works on a copy.
 */
function withoutInlineDiscriminators<T>(node: T): T {
  if (Array.isArray(node)) {
    for (const item of node) withoutInlineDiscriminators(item);
  } else if (node && typeof node === "object") {
    const schema = node as Json;
    const variants = schema.oneOf as Json[] | undefined;
    if (schema.discriminator && variants?.every((variant) => variant.$ref === undefined)) {
      delete schema.discriminator;
    }
    for (const value of Object.values(schema)) withoutInlineDiscriminators(value);
  }
  return node;
}

const TAGS: Array<{ name: string; description: string }> = [
  {
    name: "payments",
    description: "Charge a payer by carrier billing, card or wallet; capture, cancel, confirm.",
  },
  { name: "refunds", description: "Give money back, whole or in part." },
  { name: "customers", description: "The payers of a merchant." },
  {
    name: "billing",
    description: "Products, prices, subscriptions, dunning policies, MO messages, test clocks.",
  },
  { name: "checkout", description: "Hosted checkout: apps, sessions, payment links, codes, receipts." },
  { name: "ledger", description: "Balances and the double-entry ledger behind them." },
  { name: "webhooks", description: "Endpoints that receive events, and their delivery attempts." },
  { name: "events", description: "What happened, in order; redeliver to endpoints." },
  { name: "api_keys", description: "A merchant's keys: create, roll, revoke, restrict." },
  { name: "operators", description: "The mobile operators a carrier payment can go through." },
  { name: "wallets", description: "Inner currencies, exchange rates and customers' wallets." },
  { name: "memberships", description: "What a customer is entitled to, from the prices they bought." },
  { name: "vouchers", description: "Prepaid voucher batches, their codes and redemptions." },
  { name: "commissions", description: "Affiliate commission plans, statements and payouts." },
  { name: "back office", description: "Staff, roles, four-eyes approvals and the audit log." },
  { name: "admin", description: "The platform owner's admin key: merchants." },
  {
    name: "risk",
    description: "Risk rules, block and allow lists, decisions and the manual review of held payments.",
  },
  {
    name: "analytics",
    description:
      "Payments, the checkout funnel, refunds, declines, retries, subscriptions, wallets, vouchers, provider latency and webhook lag, from rollups; totals in a reporting currency.",
  },
  {
    name: "reports",
    description:
      "Finance reports of one merchant: revenue converted into a reporting currency with the rates used, subscriptions, voucher liability, monthly statements from the ledger; JSON or CSV.",
  },
  {
    name: "refund_requests",
    description: "Refunds payers ask for: the merchant's policy, approval and decline.",
  },
  {
    name: "payers",
    description: "A payer's own account across merchants: sign-in, payments, subscriptions.",
  },
  { name: "test_helpers", description: "Sandbox only: see what the platform would have sent (messages)." },
];

/** Options for @fastify/swagger: the document's frame, completed by `completeDocument`. */
export function openApiOptions(options: { serverUrl?: string }): SwaggerOptions {
  const byStatus = codesByStatus();
  return {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Centime API",
        version: "1.0.0",
        summary: "Payments for micropayments and subscriptions of digital goods.",
        description: [
          "Amounts are integers in the currency's minor unit (EUR 1.99 = 199).",
          "Authenticate with `Authorization: Bearer <key>`: a merchant's secret key (`sk_test_…`),",
          "its publishable key where an operation says so, or the platform's admin key.",
          "Every POST takes an `Idempotency-Key`: a retry with the same key answers the first answer.",
          "Every response carries a `Request-Id`; errors answer the error envelope (`Error`).",
        ].join("\n"),
        license: { name: "Apache-2.0", identifier: "Apache-2.0" },
      },
      // Without CENTIME_PUBLIC_URL, a relative URL (OpenAPI 3.1: relative to where the document is
      // served), so /docs's "Try it out" calls the server it came from, whatever its port.
      servers: [{ url: options.serverUrl ?? "/", description: "This server" }],
      tags: TAGS,
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "A secret, publishable or admin key." },
        },
        parameters: {
          IdempotencyKey: {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            description:
              "Makes the POST safe to retry: the same key with the same body answers the first answer (with `Idempotent-Replayed: true`); with another body, 422.",
            schema: { type: "string", minLength: 1, maxLength: 255, pattern: "^[\\x20-\\x7E]+$" },
            example: "order-8812-attempt-1",
          },
        },
        responses: Object.fromEntries(
          [...new Set([...byStatus.keys(), ...Object.keys(STATUS_TEXT).map(Number)])]
            .filter((status) => status >= 400)
            .sort((a, b) => a - b)
            .map((status) => [`Error${status}`, errorResponse(status, byStatus.get(status) ?? [])]),
        ),
        headers: {
          RetryAfter: {
            description: "Seconds to wait before retrying.",
            schema: { type: "integer", minimum: 0 },
          },
        },
        schemas: {
          Error: {
            type: "object",
            description: "The error envelope of every error response.",
            required: ["error"],
            properties: {
              error: {
                type: "object",
                required: ["type", "code", "message"],
                properties: {
                  type: {
                    type: "string",
                    enum: [...new Set(Object.values(ERROR_CATALOGUE).map((e) => e.type))],
                  },
                  code: {
                    type: "string",
                    enum: Object.keys(ERROR_CATALOGUE),
                    description: [...byStatus.entries()]
                      .sort(([a], [b]) => a - b)
                      .map(([status, codes]) => `${status}: ${codes.join(", ")}`)
                      .join("; "),
                  },
                  message: { type: "string", description: "For a person; may change." },
                  param: { type: "string", description: "The field at fault, when there is one." },
                  request_id: { type: "string", description: "The Request-Id of the failed request." },
                },
              },
            },
            example: {
              error: {
                type: "invalid_request_error",
                code: "parameter_missing",
                message: "This parameter is required.",
                param: "amount",
                request_id: "req_3q2l8bR0m1c5tXhA",
              },
            },
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transformObject: (document) =>
      "openapiObject" in document ? completeDocument(document.openapiObject as Json) : document.swaggerObject,
  };
}
