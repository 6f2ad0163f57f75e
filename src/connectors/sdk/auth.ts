import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { environmentValue } from "../../platform/config.ts";
import type { HttpRequest, HttpResponse } from "./http.ts";
import { sendHttp } from "./http.ts";

/** Authentication as middleware: each scheme decorates an outgoing request. */
export interface HttpAuth {
  apply(request: HttpRequest): Promise<HttpRequest>;
}

export type AuthConfig =
  | { type: "none" }
  | { type: "basic"; username: string; password: string }
  | { type: "api_key"; name: string; value: string; in: "header" | "query" }
  | {
      type: "oauth2_client_credentials";
      token_url: string;
      client_id: string;
      client_secret: string;
      scope?: string;
    }
  | { type: "hmac"; key_id: string; secret: string };

export const noAuth: HttpAuth = { apply: async (r) => r };

export function basicAuth(username: string, password: string): HttpAuth {
  const value = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  return { apply: async (r) => ({ ...r, headers: { ...r.headers, authorization: value } }) };
}

export function apiKeyAuth(name: string, value: string, where: "header" | "query"): HttpAuth {
  return {
    apply: async (r) => {
      if (where === "header") return { ...r, headers: { ...r.headers, [name.toLowerCase()]: value } };
      const url = new URL(r.url);
      url.searchParams.set(name, value);
      return { ...r, url: url.toString() };
    },
  };
}

/** One token request as it went on the wire, for the interaction log. */
export interface TokenExchange {
  request: HttpRequest;
  response?: HttpResponse;
  error?: string;
  latency_ms: number;
}

/** Refresh this long before the provider's `expires_in` runs out. */
export const TOKEN_REFRESH_MARGIN_MS = 60_000;
export const TOKEN_TIMEOUT_MS = 5_000;

/**
 * OAuth2 client credentials with a token cache: one token fetch serves every call until shortly
 * before it expires; concurrent callers share one in-flight fetch.
 */
export class OAuth2ClientCredentials implements HttpAuth {
  private token: { value: string; expiresAtMs: number } | undefined;
  private inflight: Promise<string> | undefined;
  fetchCount = 0;
  /** Told about every token request (the connector records it in the interaction log). */
  onExchange: ((exchange: TokenExchange) => void) | undefined;

  constructor(
    private readonly config: { token_url: string; client_id: string; client_secret: string; scope?: string },
    private readonly now: () => number = Date.now,
  ) {}

  async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAtMs - TOKEN_REFRESH_MARGIN_MS > this.now()) return this.token.value;
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  invalidate(): void {
    this.token = undefined;
  }

  private async fetchToken(): Promise<string> {
    this.fetchCount += 1;
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    if (this.config.scope) form.set("scope", this.config.scope);
    const basic = Buffer.from(`${this.config.client_id}:${this.config.client_secret}`).toString("base64");
    const request: HttpRequest = {
      method: "POST",
      url: this.config.token_url,
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${basic}` },
      body: form.toString(),
    };
    const started = performance.now();
    let response: HttpResponse;
    try {
      response = await sendHttp(request, { timeout_ms: TOKEN_TIMEOUT_MS, body_bytes_max: 16 * 1024 });
    } catch (error) {
      this.onExchange?.({ request, error: String(error), latency_ms: performance.now() - started });
      throw error;
    }
    this.onExchange?.({ request, response, latency_ms: performance.now() - started });
    const parsed: unknown = JSON.parse(response.body);
    if (response.status !== 200 || !parsed || typeof parsed !== "object")
      throw new Error(`token endpoint answered ${response.status}`);
    const body = parsed as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== "string") throw new Error("token endpoint sent no access_token");
    const expiresIn = typeof body.expires_in === "number" ? body.expires_in : 3600;
    this.token = { value: body.access_token, expiresAtMs: this.now() + expiresIn * 1000 };
    return body.access_token;
  }

  async apply(r: HttpRequest): Promise<HttpRequest> {
    return { ...r, headers: { ...r.headers, authorization: `Bearer ${await this.accessToken()}` } };
  }
}

/**
 * HMAC request signing: `x-signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`,
 * plus the key id. The same scheme verifies signed replies and notifications.
 */
export function hmacSignature(secret: string, timestamp: number, body: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

export function signatureHeader(secret: string, body: string, nowMs: number = Date.now()): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${hmacSignature(secret, t, body)}`;
}

/** Signatures older than this are refused, so a captured notification cannot be replayed later. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string,
  nowMs: number = Date.now(),
): "valid" | "missing" | "malformed" | "mismatch" | "expired" {
  if (!header) return "missing";
  const parts = Object.fromEntries(header.split(",").map((p) => p.trim().split("=", 2) as [string, string]));
  const t = Number(parts.t);
  const v1 = parts.v1;
  if (!Number.isInteger(t) || typeof v1 !== "string" || !/^[0-9a-f]{64}$/.test(v1)) return "malformed";
  const expected = Buffer.from(hmacSignature(secret, t, body), "hex");
  if (!timingSafeEqual(expected, Buffer.from(v1, "hex"))) return "mismatch";
  if (Math.abs(nowMs - t * 1000) > SIGNATURE_TOLERANCE_MS) return "expired";
  return "valid";
}

export function hmacAuth(keyId: string, secret: string, now: () => number = Date.now): HttpAuth {
  return {
    apply: async (r) => ({
      ...r,
      headers: {
        ...r.headers,
        "x-key-id": keyId,
        "x-signature": signatureHeader(secret, r.body ?? "", now()),
      },
    }),
  };
}

export function authFrom(config: AuthConfig | undefined): HttpAuth {
  switch (config?.type) {
    case undefined:
    case "none":
      return noAuth;
    case "basic":
      return basicAuth(config.username, config.password);
    case "api_key":
      return apiKeyAuth(config.name, config.value, config.in);
    case "oauth2_client_credentials":
      return new OAuth2ClientCredentials(config);
    case "hmac":
      return hmacAuth(config.key_id, config.secret);
  }
}

// SOAP header authentication ---------------------------------------------------------------

const WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_DIGEST =
  "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";

export function xmlEscape(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** WS-Security UsernameToken with PasswordDigest = Base64(SHA-1(nonce + created + password)). */
export function wsseUsernameToken(args: {
  username: string;
  password: string;
  nowMs?: number;
  nonce?: Buffer;
}): string {
  const nonce = args.nonce ?? randomBytes(16);
  const created = new Date(args.nowMs ?? Date.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
  const digest = createHash("sha1")
    .update(Buffer.concat([nonce, Buffer.from(created + args.password)]))
    .digest("base64");
  return (
    `<wsse:Security xmlns:wsse="${WSSE_NS}" xmlns:wsu="${WSU_NS}"><wsse:UsernameToken>` +
    `<wsse:Username>${xmlEscape(args.username)}</wsse:Username>` +
    `<wsse:Password Type="${PASSWORD_DIGEST}">${digest}</wsse:Password>` +
    `<wsse:Nonce>${nonce.toString("base64")}</wsse:Nonce><wsu:Created>${created}</wsu:Created>` +
    "</wsse:UsernameToken></wsse:Security>"
  );
}

export const HUAWEI_HEADER_NS = "http://www.huawei.com.cn/schema/common/v2_1";

/** `yyyyMMddHHmmss` in UTC: Huawei SDPs hash exactly this string. */
export function huaweiTimestamp(nowMs: number): string {
  return new Date(nowMs).toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

export function huaweiPassword(spId: string, password: string, timeStamp: string): string {
  return createHash("md5")
    .update(spId + password + timeStamp)
    .digest("hex")
    .toUpperCase();
}

/**
 * Huawei SDP `RequestSOAPHeader`: spPassword = MD5(spId + password + timeStamp). One clock
 * reading feeds both the hash and the header, and the element order is the one gateways accept.
 */
export function huaweiRequestSoapHeader(args: {
  spId: string;
  password: string;
  serviceId: string;
  msisdn: string;
  nowMs?: number;
}): string {
  const timeStamp = huaweiTimestamp(args.nowMs ?? Date.now());
  const oa = xmlEscape(args.msisdn);
  return (
    `<v2:RequestSOAPHeader xmlns:v2="${HUAWEI_HEADER_NS}">` +
    `<v2:spId>${xmlEscape(args.spId)}</v2:spId>` +
    `<v2:spPassword>${huaweiPassword(args.spId, args.password, timeStamp)}</v2:spPassword>` +
    `<v2:serviceId>${xmlEscape(args.serviceId)}</v2:serviceId>` +
    `<v2:timeStamp>${timeStamp}</v2:timeStamp>` +
    `<v2:OA>${oa}</v2:OA><v2:FA>${oa}</v2:FA>` +
    "</v2:RequestSOAPHeader>"
  );
}

/**
 * `env:NAME|fallback` in the operator configuration names a secret held in the environment; the
 * fallback is the simulator's sandbox value (the live gate refuses it for a real endpoint).
 */
export function resolveSecret(value: string): string {
  if (!value.startsWith("env:")) return value;
  const [name, fallback] = value.slice(4).split("|", 2);
  return environmentValue(name ?? "") ?? fallback ?? "";
}
