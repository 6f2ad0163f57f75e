import type { IncomingMessage, ServerResponse } from "node:http";
import { sendHttp } from "../connectors/index.ts";
import type { CarrierNetwork } from "./network.ts";

/** Everything a protocol front end of the simulator needs, shared by all of them. */
export interface SimulatorConfig {
  seed: number;
  /** No latency at all (benchmarks). */
  instant: boolean;
  latency_ms_min: number;
  latency_ms_max: number;
  /** How long a `…0003` reply is held back (longer than any client deadline). */
  hold_ms: number;
  /** When a `…0004` result is delivered by callback or receipt. */
  callback_delay_ms: number;
  /** Fraction of SMPP receipts sent twice, and of receipts preceded by a late ENROUTE. */
  dlr_duplicate_rate: number;
  dlr_out_of_order_rate: number;
  /** Fraction of settlement lines left out of a response file (they come in the next one). */
  settlement_missing_rate: number;
  username: string;
  password: string;
  /** Shared secret of the card PSP sandbox (request, reply and notification signatures). */
  psp_secret: string;
  request_body_bytes_max: number;
}

/** One exchange as it crossed the wire: a request served, or a notification sent to a client. */
export interface WireExchange {
  direction: "served" | "notification";
  method: string;
  /** The path and query as received (served), or the full URL (notification). */
  url: string;
  headers: Record<string, string>;
  body: string;
  response?: { status: number; headers: Record<string, string>; body: string };
}

export interface SimContext {
  net: CarrierNetwork;
  config: SimulatorConfig;
  httpUrl: () => string;
  /** Runs `fn` later; cancelled when the simulator closes. */
  later(fn: () => void | Promise<void>, ms: number): void;
  /** Simulated network latency before answering. */
  latency(): Promise<void>;
  /** Never answers (until the client gives up or `hold_ms` passes): "applied, but the reply was lost". */
  hold(res: ServerResponse): void;
  /** Posts a JSON or XML notification to a client's callback URL; failures are ignored. */
  notify(url: string, body: string, headers?: Record<string, string>): void;
  /** OAuth2 access tokens this simulator issued, with their scopes. */
  readonly issuedTokens: Map<string, ReadonlySet<string>>;
  /** Told about every exchange (tests validate them against the protocols' schemas). */
  wiretap?: (exchange: WireExchange) => void;
}

export function createContext(
  net: CarrierNetwork,
  config: SimulatorConfig,
  httpUrl: () => string,
): SimContext & { close(): void } {
  const timers = new Set<NodeJS.Timeout>();
  const held = new Set<ServerResponse>();
  const later = (fn: () => void | Promise<void>, ms: number) => {
    const t = setTimeout(() => {
      timers.delete(t);
      void Promise.resolve()
        .then(fn)
        .catch(() => {})
        .finally(() => {
          net.version += 1;
        });
    }, ms);
    timers.add(t);
  };
  return {
    net,
    config,
    httpUrl,
    issuedTokens: new Map(),
    later,
    async latency() {
      if (config.instant || config.latency_ms_max <= 0) return;
      const span = config.latency_ms_max - config.latency_ms_min;
      const ms = config.latency_ms_min + Math.floor(net.random() * (span + 1));
      await new Promise((r) => setTimeout(r, ms));
    },
    hold(res) {
      held.add(res);
      const t = setTimeout(() => {
        timers.delete(t);
        held.delete(res);
        res.destroy();
      }, config.hold_ms);
      timers.add(t);
      res.on("close", () => {
        held.delete(res);
        clearTimeout(t);
        timers.delete(t);
      });
    },
    notify(url, body, headers = {}) {
      const all = { "content-type": "application/json", ...headers };
      this.wiretap?.({ direction: "notification", method: "POST", url, headers: all, body });
      later(async () => {
        await sendHttp(
          { method: "POST", url, headers: all, body },
          { timeout_ms: 5_000, body_bytes_max: 64 * 1024 },
        ).catch(() => undefined);
      }, 0);
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const r of held) r.destroy();
      held.clear();
    },
  };
}

export class BodyTooLarge extends Error {}

export function readBody(req: IncomingMessage, bytes_max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > bytes_max) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function reply(
  res: ServerResponse,
  status: number,
  body: string,
  contentType = "application/json",
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

export function replyJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  reply(
    res,
    status,
    JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
    "application/json",
    headers,
  );
}

/** A Bearer token this simulator issued, with the scope an operation needs (CAMARA). */
export function bearerScoped(
  ctx: SimContext,
  req: IncomingMessage,
  scope: string,
): "ok" | "unauthenticated" | "forbidden" {
  const h = req.headers.authorization ?? "";
  const scopes = h.startsWith("Bearer ") ? ctx.issuedTokens.get(h.slice(7)) : undefined;
  if (!scopes) return "unauthenticated";
  return scopes.has(scope) ? "ok" : "forbidden";
}

/** Basic with the simulator's credentials, or a Bearer token it issued. */
export function authorised(ctx: SimContext, req: IncomingMessage): boolean {
  const h = req.headers.authorization ?? "";
  if (h.startsWith("Bearer ")) return ctx.issuedTokens.has(h.slice(7));
  if (h.startsWith("Basic ")) {
    const [user, pass] = Buffer.from(h.slice(6), "base64").toString().split(":", 2);
    return user === ctx.config.username && pass === ctx.config.password;
  }
  return false;
}

export interface Route {
  method: string;
  pattern: RegExp;
  handle(
    ctx: SimContext,
    req: IncomingMessage,
    res: ServerResponse,
    params: string[],
    body: string,
    url: URL,
  ): Promise<void> | void;
}
