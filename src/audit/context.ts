import { AsyncLocalStorage } from "node:async_hooks";

/** Who acts: the platform owner (the admin key), a staff member, a merchant's key or a job. */
export type ActorKind = "owner" | "staff" | "api_key" | "system";

export interface Actor {
  /** `owner`, a staff id, an API key id or `system:<job>`. */
  id: string;
  kind: ActorKind;
  /** The credential used: a key id, `session:…`, `certificate:<fingerprint>`, or null. */
  credential: string | null;
  merchantId: string | null;
  mode: string | null;
}

/** What the audit log needs to know about the request being served. */
export interface RequestAudit {
  actor: Actor;
  action: string;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  /** The request body with secrets removed. */
  changes: unknown;
  /** The object named in the URL, when there is one. */
  objectHint: string | null;
  /** Set once the request's write has been recorded in its own transaction. */
  recorded: boolean;
}

const storage = new AsyncLocalStorage<RequestAudit>();

/** Runs `work` (and everything it awaits) as the given request. */
export function runAudited<T>(context: RequestAudit, work: () => T): T {
  return storage.run(context, work);
}

/**
 * Runs `work` outside any request: background work a request starts (a test clock's renewals)
 * outlives it and must not be recorded as that request's write.
 */
export function detachedFromRequest<T>(work: () => T): T {
  return storage.exit(work);
}

export function currentAudit(): RequestAudit | undefined {
  return storage.getStore();
}

const SECRET_FIELDS = new Set([
  "password",
  "secret",
  "pin",
  "cvc",
  "number",
  "totp",
  "token",
  "code",
  "key",
  "api_key",
  "client_secret",
  "current_password",
  "new_password",
]);

/** A copy of a request body without secrets or card data, fit for the audit log. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return "[deep]";
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [name, inner] of Object.entries(value)) {
      out[name] = SECRET_FIELDS.has(name.toLowerCase()) ? "[redacted]" : redact(inner, depth + 1);
    }
    return out;
  }
  if (typeof value === "string" && value.length > 500) return `${value.slice(0, 500)}…`;
  return value;
}

/**
 * `POST /v1/payments/:id/capture` → `payments.capture`; `POST /v1/refunds` → `refunds.create`;
 * `DELETE /v1/webhook_endpoints/:id` → `webhook_endpoints.delete`; a GET → `….read`.
 */
export function actionName(method: string, route: string): string {
  const segments = route
    .replace(/^\/v1\//, "")
    .split("/")
    .filter(Boolean);
  const named = segments.filter((s) => !s.startsWith(":"));
  const last = segments[segments.length - 1] ?? "";
  let verb: string | null = "create";
  if (method === "GET") verb = "read";
  else if (method === "DELETE") verb = "delete";
  else if (last.startsWith(":")) verb = "update";
  else if (segments.length > named.length) verb = null;
  return verb ? [...named, verb].join(".") : named.join(".");
}
