import http from "node:http";
import https from "node:https";

/**
 * The HTTP wire: node:http with keep-alive, a hard deadline, a cap on the reply size, and errors
 * that tell "never reached the operator" (connect failed) apart from "sent, answer lost".
 */

export const BODY_BYTES_MAX = 1024 * 1024;

export interface TlsOptions {
  /** PEM client certificate and key for mutual TLS; `ca` pins the operator's CA. */
  cert?: string;
  key?: string;
  ca?: string;
  passphrase?: string;
}

export interface HttpRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type TransportFailureKind = "connect_failed" | "timeout" | "too_large" | "reset";

export class TransportFailure extends Error {
  constructor(
    readonly kind: TransportFailureKind,
    detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}

const CONNECT_ERRORS = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

const plainAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const tlsAgents = new Map<string, https.Agent>();

function agentFor(url: URL, tls: TlsOptions | undefined): http.Agent {
  if (url.protocol !== "https:") return plainAgent;
  const key = JSON.stringify(tls ?? {});
  let agent = tlsAgents.get(key);
  if (!agent) {
    agent = new https.Agent({ keepAlive: true, maxSockets: 256, ...tls });
    tlsAgents.set(key, agent);
  }
  return agent;
}

export function sendHttp(
  request: HttpRequest,
  options: { timeout_ms: number; body_bytes_max?: number; tls?: TlsOptions },
): Promise<HttpResponse> {
  const bodyMax = options.body_bytes_max ?? BODY_BYTES_MAX;
  const url = new URL(request.url);
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    let connected = false;
    let settled = false;
    const finish = (error: TransportFailure | undefined, response?: HttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(response!);
    };
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers["content-length"] = String(Buffer.byteLength(request.body));
    const req = transport.request(url, {
      method: request.method,
      headers,
      agent: agentFor(url, options.tls),
    });
    const timer = setTimeout(() => {
      finish(
        new TransportFailure(
          connected ? "timeout" : "connect_failed",
          `no reply in ${options.timeout_ms} ms`,
        ),
      );
      req.destroy();
    }, options.timeout_ms);
    req.on("socket", (socket) => {
      // A reused keep-alive socket is already connected. Over TLS the request can only have
      // reached the operator after the handshake, so a refused client certificate is "not sent".
      const ready = url.protocol === "https:" ? "secureConnect" : "connect";
      if (!socket.connecting) connected = true;
      else socket.once(ready, () => (connected = true));
    });
    req.on("error", (error: NodeJS.ErrnoException) => {
      const refused = !connected && (CONNECT_ERRORS.has(error.code ?? "") || url.protocol === "https:");
      finish(new TransportFailure(refused ? "connect_failed" : "reset", error.code ?? error.message));
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > bodyMax) {
          finish(new TransportFailure("too_large", `reply body over ${bodyMax} bytes`));
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on("error", (error) => finish(new TransportFailure("reset", error.message)));
      res.on("end", () => {
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
        }
        finish(undefined, {
          status: res.statusCode ?? 0,
          headers: out,
          body: Buffer.concat(chunks).toString("utf8"),
        });
      });
    });
    req.end(request.body);
  });
}
