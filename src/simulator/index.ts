import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normaliseMsisdn, operatorsInCountry } from "../connectors/index.ts";
import { camaraRoutes } from "./camara.ts";
import { camaraRefundRoutes } from "./camara-refund.ts";
import { cardpspRoutes } from "./cardpsp.ts";
import { consentPageRoutes } from "./consent-page.ts";
import {
  BodyTooLarge,
  createContext,
  type Route,
  readBody,
  replyJson,
  type SimContext,
  type SimulatorConfig,
  type WireExchange,
} from "./context.ts";
import { CarrierNetwork } from "./network.ts";
import { oneapiRoutes } from "./oneapi.ts";
import { parlayxRoutes } from "./parlayx.ts";
import { SettlementDesk } from "./settlement.ts";
import { type Smsc, startSmsc } from "./smsc.ts";

export type { WireExchange } from "./context.ts";
export { behaviourOf, cardAccountOf, defaultBalance, TEST_PIN } from "./network.ts";

/**
 * The carrier network simulator: every protocol for every operator in the registry. HTTP on one
 * port (OneAPI, CAMARA, Parlay X, the card PSP, OAuth2 tokens, the HLR lookup, a control API under
 * `/_sim`), SMPP over TCP on another, settlement files in a folder. Deterministic for a seed.
 */

export interface SimulatorOptions extends Partial<SimulatorConfig> {
  seed: number;
  httpPort?: number;
  smppPort?: number;
  host?: string;
  settlementDir?: string;
  /** Process settlement files every this many ms (0: only on `settle()` or POST /_sim/settlement/run). */
  settlement_interval_ms?: number;
  error_rate?: number;
  /** Told about every HTTP exchange served and every notification sent. */
  wiretap?: (exchange: WireExchange) => void;
}

export interface Simulator {
  httpUrl: string;
  smppPort: number;
  settlementDir: string;
  network: CarrierNetwork;
  /** Runs the settlement desk now: answers every waiting request file. */
  settle(): Promise<string[]>;
  sendMo(args: { operator: string; msisdn: string; shortcode: string; text: string }): number;
  /** Cuts every SMPP session, as an SMSC restart would. */
  dropSmppSessions(): number;
  close(): Promise<void>;
}

export const SIMULATOR_DEFAULTS: SimulatorConfig = {
  seed: 1,
  instant: false,
  latency_ms_min: 5,
  latency_ms_max: 40,
  hold_ms: 60_000,
  callback_delay_ms: 200,
  dlr_duplicate_rate: 0.1,
  dlr_out_of_order_rate: 0.1,
  settlement_missing_rate: 0,
  username: "centime",
  password: "sandbox",
  psp_secret: "whsec_sandbox",
  request_body_bytes_max: 256 * 1024,
};

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const miscRoutes: Route[] = [
  {
    // OAuth2 client credentials: Basic client id/secret, form grant_type=client_credentials.
    method: "POST",
    pattern: /^\/oauth\/token$/,
    handle(ctx, req, res, _p, body) {
      const h = req.headers.authorization ?? "";
      const [id, secret] = Buffer.from(h.replace(/^Basic /, ""), "base64")
        .toString()
        .split(":", 2);
      const form = new URLSearchParams(body);
      if (form.get("grant_type") !== "client_credentials")
        return replyJson(res, 400, { error: "unsupported_grant_type" });
      if (id !== ctx.config.username || secret !== ctx.config.password)
        return replyJson(res, 401, { error: "invalid_client" });
      const token = randomBytes(18).toString("base64url");
      ctx.issuedTokens.set(token, new Set((form.get("scope") ?? "").split(" ").filter(Boolean)));
      return replyJson(res, 200, { access_token: token, token_type: "Bearer", expires_in: 3600 });
    },
  },
  {
    // HLR / number-portability lookup: which network serves this number. Stable per number.
    method: "GET",
    pattern: /^\/hlr\/lookup$/,
    handle(_ctx, _req, res, _p, _b, url) {
      const n = normaliseMsisdn(url.searchParams.get("msisdn") ?? "", { test_numbers: true });
      if (!n) return replyJson(res, 400, { error: "invalid_msisdn" });
      const ops = operatorsInCountry(n.country);
      const op = ops[fnv1a(n.msisdn) % Math.max(1, ops.length)];
      if (!op) return replyJson(res, 404, { error: "no_network" });
      return replyJson(res, 200, { msisdn: n.msisdn, mccmnc: op.id, country: n.country, ported: false });
    },
  },
  {
    method: "GET",
    pattern: /^\/_sim\/health$/,
    handle: (_ctx, _req, res) => replyJson(res, 200, { status: "ok" }),
  },
  {
    method: "GET",
    pattern: /^\/_sim\/sms$/,
    handle(ctx, _req, res, _p, _b, url) {
      const who = url.searchParams.get("msisdn");
      replyJson(res, 200, { data: ctx.net.outbox.filter((m) => !who || m.msisdn === who) });
    },
  },
  {
    method: "GET",
    pattern: /^\/_sim\/subscribers\/([^/]+)$/,
    handle(ctx, _req, res, [msisdn = ""]) {
      const s = ctx.net.findSubscriber(decodeURIComponent(msisdn));
      if (!s) return replyJson(res, 404, { error: "unknown" });
      return replyJson(res, 200, s);
    },
  },
];

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const config: SimulatorConfig = { ...SIMULATOR_DEFAULTS, ...stripUndefined(options) };
  if (config.instant) {
    config.latency_ms_min = 0;
    config.latency_ms_max = 0;
  }
  const net = new CarrierNetwork({ seed: options.seed, error_rate: options.error_rate ?? 0 });
  const host = options.host ?? "127.0.0.1";
  let httpUrl = "";
  const ctx = createContext(net, config, () => httpUrl);
  if (options.wiretap) ctx.wiretap = options.wiretap;
  // A directory of our own when none is given, removed on close: no temporary folders left behind.
  const ownDir = options.settlementDir ? undefined : mkdtempSync(join(tmpdir(), "centime-settlement-"));
  const desk = new SettlementDesk(ctx, options.settlementDir ?? (ownDir as string));
  let smsc: Smsc | undefined;
  const routes: Route[] = [
    ...miscRoutes,
    {
      method: "POST",
      pattern: /^\/_sim\/settlement\/run$/,
      handle: async (_c, _q, res) => replyJson(res, 200, { files: await desk.run() }),
    },
    {
      method: "POST",
      pattern: /^\/_sim\/mo$/,
      handle(_c, _q, res, _p, body) {
        const b = JSON.parse(body) as {
          operator?: string;
          msisdn?: string;
          shortcode?: string;
          text?: string;
        };
        const sent =
          smsc?.sendMo({
            operator: b.operator ?? "",
            msisdn: b.msisdn ?? "",
            shortcode: b.shortcode ?? "",
            text: b.text ?? "",
          }) ?? 0;
        replyJson(res, 200, { sessions: sent });
      },
    },
    ...oneapiRoutes,
    // The consent pages after OneAPI's own routes, where OneAPI's list used to end with them.
    ...consentPageRoutes,
    ...camaraRoutes,
    ...camaraRefundRoutes,
    ...parlayxRoutes,
    ...cardpspRoutes,
  ];

  const server = createServer((req, res) => void dispatch(ctx, routes, req, res));
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.httpPort ?? 0, host, () => resolve());
  });
  httpUrl = `http://${host}:${(server.address() as AddressInfo).port}`;
  smsc = await startSmsc(ctx, options.smppPort ?? 0, host);

  let interval: NodeJS.Timeout | undefined;
  if (options.settlement_interval_ms && options.settlement_interval_ms > 0) {
    interval = setInterval(() => void desk.run().catch(() => {}), options.settlement_interval_ms);
  }

  return {
    httpUrl,
    smppPort: smsc.port,
    settlementDir: desk.dir,
    network: net,
    settle: () => desk.run(),
    sendMo: (args) => smsc?.sendMo(args) ?? 0,
    dropSmppSessions: () => smsc?.dropSessions() ?? 0,
    async close() {
      if (interval) clearInterval(interval);
      ctx.close();
      await smsc?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    },
  };
}

/** Reports the request and, once written, the response exactly as they crossed the wire. */
function tap(
  wiretap: (e: WireExchange) => void,
  req: IncomingMessage,
  res: ServerResponse,
  body: string,
): void {
  const headers: Record<string, string> = {};
  const writeHead = res.writeHead.bind(res);
  res.writeHead = ((status: number, ...rest: unknown[]) => {
    const given = rest.find((r) => r && typeof r === "object") as Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(given ?? {})) headers[k.toLowerCase()] = String(v);
    return (writeHead as (...a: unknown[]) => ServerResponse)(status, ...rest);
  }) as ServerResponse["writeHead"];
  const end = res.end.bind(res);
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) ? chunk.toString("utf8") : "";
    for (const [k, v] of Object.entries(res.getHeaders())) if (v !== undefined) headers[k] ??= String(v);
    wiretap({
      direction: "served",
      method: req.method ?? "",
      url: req.url ?? "",
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
      body,
      response: { status: res.statusCode, headers, body: text },
    });
    return (end as (...a: unknown[]) => ServerResponse)(chunk, ...rest);
  }) as ServerResponse["end"];
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function dispatch(
  ctx: SimContext,
  routes: Route[],
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const url = new URL(req.url ?? "/", "http://simulator");
    for (const route of routes) {
      if (route.method !== req.method) continue;
      const match = route.pattern.exec(url.pathname);
      if (!match) continue;
      const body = req.method === "GET" ? "" : await readBody(req, ctx.config.request_body_bytes_max);
      if (ctx.wiretap) tap(ctx.wiretap, req, res, body);
      await route.handle(ctx, req, res, match.slice(1), body, url);
      // Anything but a read may have changed what the operators hold: a saver snapshots it.
      if (req.method !== "GET") ctx.net.version += 1;
      return;
    }
    replyJson(res, 404, { error: "not_found", path: url.pathname });
  } catch (error) {
    if (error instanceof BodyTooLarge) return replyJson(res, 413, { error: "body_too_large" });
    // A client sending garbage gets a 400, never a crashed simulator.
    replyJson(res, 400, {
      error: "bad_request",
      message: error instanceof Error ? error.message.slice(0, 200) : "?",
    });
  }
}
