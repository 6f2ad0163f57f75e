/**
 * Process-level tests: spawn `centime` as a real child process (`node --import tsx src/main.ts`),
 * wait for it to listen, kill it (gracefully or with SIGKILL), and give each test a fresh store:
 * a temporary embedded data directory, or a fresh empty database on the PostgreSQL server named
 * by DATABASE_URL. Every child is tracked so that an `after` hook (or the exit of the test
 * process) can SIGKILL whatever is still running, even when a test fails half-way.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const MAIN = join(REPO_ROOT, "src", "main.ts");
export const TEST_ADMIN_KEY = "process-test-admin-key-0123456789";

const portsGiven = new Set<number>();

/**
 * Ports are taken below the kernel's ephemeral range (32768–60999 on Linux): a child needs seconds
 * to migrate before it listens, and a port from that range, free when checked, may meanwhile
 * become the local end of any outgoing connection on the machine. Other test processes pick at
 * random from the same 12,000 ports; a port is checked free and never handed out twice here.
 */
const PORT_LOW = 20_000;
const PORT_HIGH = 32_767;

export async function freePort(): Promise<number> {
  for (;;) {
    const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW + 1));
    if (portsGiven.has(port) || !(await bindable(port))) continue;
    portsGiven.add(port);
    return port;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

const children = new Set<ChildProcess>();

/** SIGKILLs every child still running (the `after` hook of each process test calls it). */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
}
process.once("exit", killAllChildren);

function track(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
}

/**
 * The environment of a child: the parent's, without anything that would change what the child
 * talks to (DATABASE_URL, CENTIME_*, PORT), plus `overrides` (undefined deletes a variable).
 */
export function childEnv(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name === "DATABASE_URL" || name === "PORT" || name === "HOST" || name.startsWith("CENTIME_"))
      continue;
    // The child is a program, not a test: node's test runner sets these for its own children.
    if (name === "NODE_TEST_CONTEXT" || name === "NODE_OPTIONS") continue;
    env[name] = value;
  }
  env.HOST = "127.0.0.1";
  env.LOG_LEVEL = "warn";
  env.CENTIME_RATE_LIMIT_PER_SECOND = "0";
  env.CENTIME_PAGE_RATE_LIMIT_PER_SECOND = "0";
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CentimeProcess {
  child: ChildProcess;
  pid: number;
  /** http://127.0.0.1:port once listening. */
  url: string;
  /** Milliseconds from spawn to the "Centime is running" line. */
  startMs: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** SIGKILL, and wait until the process is gone. */
  kill9(): Promise<Exit>;
  /** SIGTERM (graceful stop), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<Exit>;
}

interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
}

function spawnCentime(args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<Exit>((resolve) => {
    // "close" rather than "exit": all output has been read by then.
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs `centime <args>` to completion (migrate, --help, a start that must fail…). */
export async function runCentime(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 120_000,
): Promise<Exit & { stdout: string; stderr: string }> {
  const spawned = spawnCentime(args, env);
  const timer = setTimeout(() => spawned.child.kill("SIGKILL"), timeoutMs);
  const exit = await spawned.exited;
  clearTimeout(timer);
  return { ...exit, stdout: spawned.stdout(), stderr: spawned.stderr() };
}

const RUNNING = /Centime is running on (http:\/\/\S+?) with/;

/**
 * Spawns `centime start` on a free port and resolves once it prints that it is running. Rejects
 * (after killing the child) when the process exits first or does not come up in `timeoutMs`.
 */
export async function startCentime(
  overrides: Record<string, string | undefined>,
  options: { timeoutMs?: number; args?: string[] } = {},
): Promise<CentimeProcess> {
  // No retry on a taken port: a first start has effects (migrations, the admin key printed once).
  const port = await freePort();
  const began = performance.now();
  const spawned = spawnCentime(options.args ?? ["start"], childEnv({ PORT: String(port), ...overrides }));
  const { child } = spawned;
  const url = await new Promise<string>((resolve, reject) => {
    const timeoutMs = options.timeoutMs ?? 120_000;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`centime did not start in ${timeoutMs} ms\n${spawned.stdout()}\n${spawned.stderr()}`));
    }, timeoutMs);
    const onData = () => {
      const match = RUNNING.exec(spawned.stdout());
      if (match) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        resolve(match[1]!);
      }
    };
    child.stdout?.on("data", onData);
    void spawned.exited.then((exit) => {
      clearTimeout(timer);
      reject(
        new Error(
          `centime exited (code ${exit.code}, signal ${exit.signal}) before listening\n` +
            `stdout: ${spawned.stdout()}\nstderr: ${spawned.stderr()}`,
        ),
      );
    });
  });
  const startMs = performance.now() - began;
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return spawned.exited;
  };
  return {
    child,
    pid: child.pid!,
    url,
    startMs,
    stdout: spawned.stdout,
    stderr: spawned.stderr,
    exited: spawned.exited,
    kill9: () => kill("SIGKILL"),
    async stop(graceMs = 10_000) {
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const exit = await kill("SIGTERM");
      clearTimeout(timer);
      return exit;
    },
  };
}

/** Where a process test keeps its data: the env of its children and how to remove it all. */
export interface ProcessStore {
  kind: "embedded" | "postgres";
  /** CENTIME_DATA_DIR or DATABASE_URL for the children. */
  env: Record<string, string | undefined>;
  dataDir?: string;
  databaseUrl?: string;
  cleanup(): Promise<void>;
}

/** A fresh temporary embedded data directory (the directory itself does not exist yet inside). */
export function embeddedStore(prefix = "centime-proc-"): ProcessStore {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const dataDir = join(root, "data");
  return {
    kind: "embedded",
    env: { CENTIME_DATA_DIR: dataDir, DATABASE_URL: undefined },
    dataDir,
    async cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh, empty database `<prefix><random>` on the server of `serverUrl` (the server migrates it). */
export async function postgresStore(serverUrl: string, prefix = "centime_proc_"): Promise<ProcessStore> {
  const name = `${prefix}${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const databaseUrl = withDatabase(serverUrl, name);
  // The children must not find an embedded directory by accident either.
  const root = mkdtempSync(join(tmpdir(), "centime-proc-pg-"));
  return {
    kind: "postgres",
    env: { DATABASE_URL: databaseUrl, CENTIME_DATA_DIR: join(root, "unused") },
    databaseUrl,
    async cleanup() {
      rmSync(root, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** PostgreSQL when DATABASE_URL is set (the suite's second run), embedded otherwise. */
export function freshStore(prefix: { embedded?: string; postgres?: string } = {}): Promise<ProcessStore> {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl) return postgresStore(serverUrl, prefix.postgres);
  return Promise.resolve(embeddedStore(prefix.embedded));
}

export interface HttpReply<T> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

/** A JSON call to a running server; network errors propagate (a killed server answers nothing). */
export async function http<T = Record<string, unknown>>(
  base: string,
  method: "GET" | "POST",
  path: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<HttpReply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // HTML (docs) or plain text: keep the text.
  }
  return { status: response.status, body: body as T, headers: response.headers, text };
}

/** Creates a merchant with the admin key; returns its test secret key. */
export async function createMerchantOver(base: string, adminKey: string, name = "Process studio") {
  const reply = await http<{ merchant: { id: string }; secret_key: string }>(base, "POST", "/v1/merchants", {
    key: adminKey,
    body: { name },
  });
  if (reply.status !== 201) throw new Error(`merchant creation failed: ${reply.status} ${reply.text}`);
  return { merchantId: reply.body.merchant.id, secretKey: reply.body.secret_key };
}
