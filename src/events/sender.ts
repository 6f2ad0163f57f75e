import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { performance } from "node:perf_hooks";
import { WEBHOOK_LIMITS } from "./limits.ts";
import { guardedLookup, isBlockedAddress, normalizedHost, type Resolver } from "./ssrf.ts";

/** Why an attempt got no HTTP status. Short codes, shown in the attempts list. */
export type TransportError =
  | "invalid_url"
  | "address_blocked"
  | "dns_error"
  | "connection_refused"
  | "connection_reset"
  | "tls_error"
  | "timeout"
  | "connection_error";

export interface SendResult {
  /** The HTTP status, when a response arrived. */
  status?: number;
  retryAfter?: string;
  error?: TransportError;
  latencyMs: number;
}

export interface Transport {
  resolver: Resolver;
  allowedHosts: ReadonlySet<string>;
  timeoutMs: number;
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

/** Keep-alive agents, one pair per worker; `destroyAgents` closes their sockets on stop. */
export function newAgents(): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  return { httpAgent: new http.Agent({ keepAlive: true }), httpsAgent: new https.Agent({ keepAlive: true }) };
}

function classify(error: NodeJS.ErrnoException): TransportError {
  const code = error.code ?? "";
  if (code === "ECENTIMEBLOCKED") return "address_blocked";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_FAIL") return "dns_error";
  if (code === "ECONNREFUSED") return "connection_refused";
  if (code === "ECONNRESET" || code === "EPIPE") return "connection_reset";
  if (code === "ETIMEDOUT") return "timeout";
  if (
    code.startsWith("ERR_TLS") ||
    code.startsWith("ERR_SSL") ||
    code.includes("CERT") ||
    code.includes("SIGNATURE")
  ) {
    return "tls_error";
  }
  return "connection_error";
}

/**
 * POSTs one webhook. Never follows a redirect (a 3xx is just a status), never reaches a non-public
 * address unless the host is allowed, and gives up after the timeout. The result is decided when
 * the response head arrives; the body is drained in the background, up to a cap, so the
 * connection can be reused.
 */
export function postWebhook(
  target: string,
  headers: Readonly<Record<string, string>>,
  body: string,
  transport: Transport,
): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.resolve({ error: "invalid_url", latencyMs: 0 });
  }
  const isHttps = url.protocol === "https:";
  if (!isHttps && url.protocol !== "http:") return Promise.resolve({ error: "invalid_url", latencyMs: 0 });
  const host = normalizedHost(url);
  const allowed = transport.allowedHosts.has(host);
  // An address literal never goes through `lookup`, so it is checked here.
  if (isIP(host) && !allowed && isBlockedAddress(host)) {
    return Promise.resolve({ error: "address_blocked", latencyMs: 0 });
  }

  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Omit<SendResult, "latencyMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, latencyMs: elapsed() });
    };
    const options: https.RequestOptions = {
      method: "POST",
      agent: isHttps ? transport.httpsAgent : transport.httpAgent,
      lookup: guardedLookup(transport.resolver, allowed) as unknown as https.RequestOptions["lookup"],
      headers: {
        ...headers,
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "user-agent": "Centime-Webhooks/1",
      },
    };
    const request = (isHttps ? https : http).request(url, options, (response) => {
      const retryAfter = response.headers["retry-after"];
      finish({ status: response.statusCode ?? 0, ...(retryAfter === undefined ? {} : { retryAfter }) });
      let bytes = 0;
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > WEBHOOK_LIMITS.response_body_bytes_max) request.destroy();
      });
      response.on("error", () => {});
    });
    request.on("error", (error: NodeJS.ErrnoException) => finish({ error: classify(error) }));
    // Covers a body that trickles in after the head, which the overall timer no longer watches.
    request.setTimeout(transport.timeoutMs, () => request.destroy());
    const timer = setTimeout(() => {
      finish({ error: "timeout" });
      request.destroy();
    }, transport.timeoutMs);
    request.end(body);
  });
}
