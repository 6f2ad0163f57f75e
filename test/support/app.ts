import type { FastifyInstance } from "fastify";
import { buildApp } from "../../src/http/app.ts";
import { type Clock, FakeClock } from "../../src/platform/clock.ts";
import { type Config, configFromEnv } from "../../src/platform/config.ts";
import { createLogger } from "../../src/platform/log.ts";
import { createServices, type Services } from "../../src/services.ts";
import { openTestDatabase, type TestDatabase } from "./db.ts";

export const ADMIN_KEY = "test-admin-key-0123456789";

export interface TestApp {
  app: FastifyInstance;
  services: Services;
  database: TestDatabase;
  clock: Clock;
  close(): Promise<void>;
}

/** A fresh app on a fresh database, called through `inject()` (no socket). */
export async function createTestApp(
  options: { config?: Partial<Config>; clock?: Clock } = {},
): Promise<TestApp> {
  const database = await openTestDatabase();
  const config: Config = {
    ...configFromEnv({}),
    adminKey: ADMIN_KEY,
    logLevel: "silent",
    rateLimitPerSecond: 0,
    pageRateLimitPerSecond: 0,
    ...options.config,
  };
  const clock = options.clock ?? { nowMs: () => Date.now() };
  const services = createServices({ config, db: database.db, clock, logger: createLogger("silent") });
  const closeServices = async () => {
    await services.committer.close();
    await services.risk.close();
    await database.close();
  };
  let app: FastifyInstance;
  try {
    app = await buildApp(services);
  } catch (error) {
    // An app that does not build (a broken route file) fails its tests; the open database would
    // keep the test file's process alive for ever (the embedded engine's timer), and CI with it.
    await closeServices();
    throw error;
  }
  return {
    app,
    services,
    database,
    clock,
    async close() {
      await app.close();
      await closeServices();
    },
  };
}

export interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
}

export async function call<T = Record<string, unknown>>(
  app: FastifyInstance,
  method: "GET" | "POST" | "DELETE",
  url: string,
  options: { key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let payload: string | undefined;
  if (options.rawBody !== undefined) payload = options.rawBody;
  else if (options.body !== undefined) payload = JSON.stringify(options.body);
  if (payload !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
  const response = await app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  const text = response.body;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (metrics, docs): keep the text.
  }
  return { status: response.statusCode, body: body as T, headers: response.headers };
}

export interface MerchantKeys {
  merchantId: string;
  secretKey: string;
  publishableKey: string;
  liveSecretKey: string;
  livePublishableKey: string;
}

export async function createMerchant(app: FastifyInstance, name = "Test studio"): Promise<MerchantKeys> {
  const reply = await call<{
    merchant: { id: string };
    secret_key: string;
    publishable_key: string;
    live_secret_key: string;
    live_publishable_key: string;
  }>(app, "POST", "/v1/merchants", { key: ADMIN_KEY, body: { name } });
  if (reply.status !== 201) throw new Error(`merchant creation failed: ${JSON.stringify(reply.body)}`);
  return {
    merchantId: reply.body.merchant.id,
    secretKey: reply.body.secret_key,
    publishableKey: reply.body.publishable_key,
    liveSecretKey: reply.body.live_secret_key,
    livePublishableKey: reply.body.live_publishable_key,
  };
}

export function sandboxPayment(scenario: string, extra: Record<string, unknown> = {}) {
  return { amount: 500, currency: "EUR", payment_method: { type: "sandbox", scenario }, ...extra };
}

export { FakeClock };
