/**
 * Centime's TypeScript SDK: a typed client generated from the OpenAPI document (openapi-fetch over
 * the types of ./schema.ts), with a thin layer for what a payments client must get right:
 * - every POST carries an Idempotency-Key (one is made when the caller gives none), so that
 * - retries are safe: 429, 5xx, network errors and a 409 `idempotency_key_in_use` are retried
 *   with exponential backoff (or the server's Retry-After), with the same key;
 * - webhook signatures (Standard Webhooks) are verified before an event is trusted.
 */
import { randomUUID } from "node:crypto";
import createClient, { type Client } from "openapi-fetch";
import { Webhook } from "standardwebhooks";
import type { components, operations, paths } from "./schema.ts";

export type { components, operations, paths };

export interface CentimeOptions {
  /** Where Centime runs, e.g. https://pay.example.com (no trailing /v1). */
  baseUrl: string;
  /** A secret key (sk_test_…, sk_live_…), a publishable key, or the admin key. */
  apiKey: string;
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** The first backoff in milliseconds, doubled on each retry (default 250), capped at 8 s. */
  retryBaseMs?: number;
  /** The fetch to use (tests, proxies); the global one by default. */
  fetch?: (request: Request) => Promise<Response>;
}

export type Centime = Client<paths>;

const BACKOFF_CAP_MS = 8_000;

/** A client for the whole API: `centime.POST("/v1/payments", { body })` answers `{ data, error }`. */
export function createCentime(options: CentimeOptions): Centime {
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const maxRetries = options.maxRetries ?? 3;
  const baseMs = options.retryBaseMs ?? 250;
  return createClient<paths>({
    baseUrl: options.baseUrl,
    headers: { authorization: `Bearer ${options.apiKey}` },
    fetch: async (request: Request) => {
      if (request.method === "POST" && !request.headers.has("idempotency-key")) {
        request.headers.set("idempotency-key", randomUUID());
      }
      for (let attempt = 0; ; attempt++) {
        let response: Response | undefined;
        try {
          response = await send(request.clone());
        } catch (error) {
          if (attempt >= maxRetries) throw error;
        }
        if (response && (attempt >= maxRetries || !(await retryable(response)))) return response;
        await sleep(delayMs(response, attempt, baseMs));
      }
    },
  });
}

async function retryable(response: Response): Promise<boolean> {
  if (response.status === 429 || response.status >= 500) return true;
  if (response.status !== 409) return false;
  // A 409 on a state (a payment already captured) is an answer; a key still in use is not yet.
  try {
    const body: { error?: { code?: string } } = JSON.parse(await response.clone().text());
    return body.error?.code === "idempotency_key_in_use";
  } catch {
    return false;
  }
}

function delayMs(response: Response | undefined, attempt: number, baseMs: number): number {
  const retryAfter = Number(response?.headers.get("retry-after"));
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(retryAfter * 1000, BACKOFF_CAP_MS);
  // Full jitter: clients retrying after the same outage do not come back in step.
  return Math.random() * Math.min(baseMs * 2 ** attempt, BACKOFF_CAP_MS);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An event as webhooks deliver it (the same object as `GET /v1/events/{id}`). */
export type WebhookEvent = operations["getEvent"]["responses"][200]["content"]["application/json"];

/**
 * Verifies a webhook delivery (its `webhook-id`, `webhook-timestamp` and `webhook-signature`
 * headers against the endpoint's `whsec_…` secret, five minutes of tolerance) and returns the
 * event. Throws when the signature does not match or the delivery is too old: do not trust it.
 * Pass the body exactly as received, before any JSON parsing.
 */
export function verifyWebhook(
  secret: string,
  body: string,
  headers: Record<string, string | string[] | undefined>,
): WebhookEvent {
  const single: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) single[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  new Webhook(secret).verify(body, single);
  return JSON.parse(body);
}
