import { setTimeout as sleep } from "node:timers/promises";
import { newWebhookSecret, signedHeaders } from "../events/signing.ts";
import { idFloor } from "../platform/ids.ts";

/**
 * `centime listen`: polls a merchant's test-mode events through the public API and POSTs each
 * one to a local URL, signed like a webhook delivery (Standard Webhooks). For development: no
 * public address, no endpoint to register, nothing stored on the server.
 */
export interface ListenOptions {
  apiUrl: string;
  apiKey: string;
  forwardTo: string;
  /** Event types to forward; empty forwards all. */
  events: ReadonlySet<string>;
  secret: string;
  pollMs: number;
  print: (line: string) => void;
  signal: AbortSignal;
}

/** Events committed a little out of id order are still found: each poll looks this far back. */
const LOOKBACK_MS = 10_000;
const PAGE_SIZE = 100;

interface EventBody {
  id: string;
  type: string;
  created: string;
}

export class ListenUsageError extends Error {}

export function checkListenOptions(apiKey: string | undefined, forwardTo: string | undefined): void {
  if (!forwardTo)
    throw new ListenUsageError("--forward-to URL is required (e.g. http://localhost:3000/webhooks)");
  let url: URL;
  try {
    url = new URL(forwardTo);
  } catch {
    throw new ListenUsageError(`--forward-to is not a URL: '${forwardTo}'`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ListenUsageError("--forward-to must be an http:// or https:// URL");
  if (!apiKey) throw new ListenUsageError("an API key is required: --api-key sk_test_… or CENTIME_API_KEY");
  if (apiKey.startsWith("sk_live_"))
    throw new ListenUsageError("listen forwards test-mode events only: use a test key (sk_test_…)");
  if (!apiKey.startsWith("sk_test_"))
    throw new ListenUsageError("the API key must be a secret test key (sk_test_…)");
}

export function defaultListenSecret(): string {
  return newWebhookSecret();
}

async function fetchPage(
  options: ListenOptions,
  endingBefore: string,
): Promise<{ data: EventBody[]; has_more: boolean }> {
  const url = new URL("/v1/events", options.apiUrl);
  url.searchParams.set("limit", String(PAGE_SIZE));
  url.searchParams.set("ending_before", endingBefore);
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${options.apiKey}` },
    signal: options.signal,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET /v1/events answered ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as { data: EventBody[]; has_more: boolean };
}

async function forward(options: ListenOptions, event: EventBody, body: string): Promise<string> {
  const headers = signedHeaders([options.secret], event.id, Math.floor(Date.now() / 1000), body);
  try {
    const response = await fetch(options.forwardTo, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body,
      signal: AbortSignal.any([options.signal, AbortSignal.timeout(15_000)]),
    });
    await response.arrayBuffer();
    return String(response.status);
  } catch (error) {
    return `failed (${error instanceof Error ? error.message : String(error)})`;
  }
}

/** Runs until the signal aborts. Returns how many events were forwarded. */
export async function listen(options: ListenOptions): Promise<number> {
  const startMs = Date.now();
  const seen = new Map<string, number>();
  let forwarded = 0;
  while (!options.signal.aborted) {
    const floorMs = Math.max(startMs, Date.now() - LOOKBACK_MS);
    try {
      let cursor = idFloor("evt", floorMs);
      for (;;) {
        const page = await fetchPage(options, cursor);
        const oldestFirst = [...page.data].reverse();
        for (const event of oldestFirst) {
          if (seen.has(event.id)) continue;
          seen.set(event.id, Date.parse(event.created));
          if (options.events.size > 0 && !options.events.has(event.type)) continue;
          const status = await forward(options, event, JSON.stringify(event));
          forwarded++;
          options.print(`${new Date().toISOString()}  ${event.type.padEnd(28)} ${event.id}  -> ${status}`);
        }
        if (!page.has_more || page.data.length === 0) break;
        cursor = page.data[0]!.id;
      }
    } catch (error) {
      if (options.signal.aborted) break;
      options.print(`could not read events: ${error instanceof Error ? error.message : String(error)}`);
    }
    for (const [id, createdMs] of seen) if (createdMs < floorMs - LOOKBACK_MS) seen.delete(id);
    await sleep(options.pollMs, undefined, { signal: options.signal }).catch(() => {});
  }
  return forwarded;
}
