/**
 * The OpenAPI document as a test reads it: find the operation of a request, and check a real
 * answer against the response schema the document gives for its status.
 */
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { FastifyInstance } from "fastify";

export type Json = Record<string, unknown>;

export interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Json; responses: Record<string, Response>; parameters: Record<string, Json> };
  [key: string]: unknown;
}

export interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  parameters?: Json[];
  requestBody?: { content?: Record<string, { schema?: Json; example?: unknown; examples?: Json }> };
  responses?: Record<string, Response | { $ref: string }>;
  [key: string]: unknown;
}

export interface Response {
  description: string;
  content?: Record<string, { schema?: Json }>;
}

export const METHODS = ["get", "post", "put", "patch", "delete"] as const;

export async function loadDocument(app: FastifyInstance): Promise<Document> {
  const reply = await app.inject({ method: "GET", url: "/openapi.json" });
  if (reply.statusCode !== 200) throw new Error(`/openapi.json answered ${reply.statusCode}`);
  return JSON.parse(reply.body) as Document;
}

/** `/v1/payments/:id` as the document writes it: `/v1/payments/{id}`. */
export function documentPath(fastifyUrl: string): string {
  return fastifyUrl.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

/** Follows a `#/components/...` reference within the document. */
export function resolve<T>(document: Document, value: T | { $ref: string }): T {
  let current: unknown = value;
  for (let depth = 0; depth < 10; depth++) {
    const ref = (current as { $ref?: unknown } | undefined)?.$ref;
    if (typeof ref !== "string" || !ref.startsWith("#/")) return current as T;
    current = ref
      .slice(2)
      .split("/")
      .reduce<unknown>(
        (node, key) => (node as Json | undefined)?.[key.replace(/~1/g, "/").replace(/~0/g, "~")],
        document,
      );
  }
  throw new Error("reference loop");
}

/** The documented path that a concrete URL matches; literal segments win over parameters. */
export function matchPath(document: Document, url: string): string | undefined {
  const pathname = new URL(url, "http://x").pathname;
  const candidates = Object.keys(document.paths).filter((template) => {
    const pattern = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+");
    return new RegExp(`^${pattern}$`).test(pathname);
  });
  candidates.sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  return candidates[0];
}

export class ResponseChecker {
  private readonly ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly document: Document) {
    addFormats.default(this.ajv);
  }

  /**
   * What is wrong with this answer by the document: an undocumented path, method or status, or
   * a body that does not match the status's schema. Empty when it conforms.
   */
  problems(method: string, url: string, status: number, body: unknown): string[] {
    const where = `${method} ${url} → ${status}`;
    const path = matchPath(this.document, url);
    if (!path) return [`${where}: no documented path`];
    const operation = this.document.paths[path]?.[method.toLowerCase()];
    if (!operation) return [`${where}: ${method} not documented on ${path}`];
    const declared = operation.responses?.[String(status)];
    if (!declared) return [`${where}: status not documented for ${path}`];
    const response = resolve<Response>(this.document, declared);
    const schema = response.content?.["application/json"]?.schema;
    if (!schema) return [`${where}: no JSON schema documented`];
    const key = `${method} ${path} ${status}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      // The document's own components travel with the schema, so its references resolve.
      validate = this.ajv.compile({ allOf: [schema], components: this.document.components });
      this.compiled.set(key, validate);
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${where}: ${e.instancePath || "/"} ${e.message ?? "invalid"} ${JSON.stringify(e.params)}`,
    );
  }
}

/** The document a fresh server serves (on a throwaway embedded database). */
export async function servedDocument(): Promise<Document> {
  const { buildEmbeddedTemplate } = await import("./templates.ts");
  const { createTestApp } = await import("./app.ts");
  await buildEmbeddedTemplate();
  const t = await createTestApp();
  try {
    return await loadDocument(t.app);
  } finally {
    await t.close();
  }
}
