import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DestinationStream } from "pino";
import { configFromEnv } from "../../src/platform/config.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { ADMIN_KEY } from "./app.ts";
import { openTestDatabase, type TestDatabase } from "./db.ts";

export interface LiveServer {
  url: string;
  server: RunningServer;
  database: TestDatabase;
  close(): Promise<void>;
}

/**
 * The whole platform on a free local port, with its embedded carrier network simulator and
 * workers, on a fresh test database: for flows that need real sockets (operator callbacks).
 */
export async function startLiveServer(
  overrides: Record<string, string> = {},
  /** A log to read (the default is silent). */
  log: { logLevel?: string; logDestination?: DestinationStream } = {},
): Promise<LiveServer> {
  const database = await openTestDatabase();
  // The archive job runs in the server's worker: its files go to a directory of this server.
  const archiveDir = mkdtempSync(join(tmpdir(), "centime-archive-"));
  const config = {
    ...configFromEnv({
      CENTIME_RECONCILE_AFTER_MS: "300",
      CENTIME_SANDBOX_ASYNC_DELAY_MS: "300",
      CENTIME_ARCHIVE_DIR: archiveDir,
      ...overrides,
    }),
    adminKey: ADMIN_KEY,
    logLevel: log.logLevel ?? "silent",
    port: 0,
    rateLimitPerSecond: 0,
    pageRateLimitPerSecond: 0,
  };
  const server = await startServer(
    config,
    "all",
    database.db,
    log.logDestination ? { logDestination: log.logDestination } : {},
  );
  return {
    url: server.url,
    server,
    database,
    async close() {
      await server.stop().catch(() => {});
      await database.close().catch(() => {});
      rmSync(archiveDir, { recursive: true, force: true });
    },
  };
}

export async function http<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  key?: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON.
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}

/** Polls until `check` returns a value, for outcomes that arrive on their own (callbacks, jobs). */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting for an outcome");
    await new Promise((r) => setTimeout(r, 100));
  }
}
