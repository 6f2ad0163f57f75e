import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/**
 * The checkout whose platform is started: this one, or `BENCH_PLATFORM_DIR` (another checkout,
 * e.g. a `git worktree` of an older commit) so that two versions are measured by the same bench.
 */
export const PLATFORM_ROOT = process.env.BENCH_PLATFORM_DIR
  ? resolve(process.env.BENCH_PLATFORM_DIR)
  : REPO_ROOT;

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export function newAdminKey(): string {
  return `bench_admin_${randomBytes(24).toString("hex")}`;
}

export interface PlatformOptions {
  /** PostgreSQL URL; unset = embedded database in dataDir. */
  databaseUrl?: string;
  dataDir?: string;
  adminKey: string;
  port?: number;
  /** Directory for `node --cpu-prof` output; unset = no profiling. */
  cpuProfileDir?: string;
  readyTimeoutMs?: number;
  /** Extra environment variables for the child. */
  env?: Record<string, string>;
  /** `centime` arguments (default `start`). */
  args?: string[];
}

/**
 * Platforms still running. A bench stopped midway (SIGTERM, or an exit without `stop()`) stops
 * them too: one left behind kept its jobs running against its database and skewed every later
 * run on the machine.
 */
const children = new Set<ChildProcess>();
let stoppingInstalled = false;

function stopWithThisProcess(child: ChildProcess): void {
  if (!stoppingInstalled) {
    stoppingInstalled = true;
    process.once("exit", () => {
      for (const running of children) running.kill("SIGTERM");
    });
    process.once("SIGTERM", () => process.exit(143));
  }
  children.add(child);
  child.once("exit", () => children.delete(child));
}

/** The platform as a child process: `node --import tsx src/main.ts start`. */
export class Platform {
  private output = "";
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly adminKey: string,
  ) {
    this.exited = new Promise((resolveExit) => {
      child.once("exit", (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolveExit(this.exitCode);
      });
    });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString("utf8")).slice(-8000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last few kilobytes the child printed (stdout and stderr). */
  tail(): string {
    return this.output;
  }

  /** Spawns the platform and waits for `/ready` to answer 200; `readyMs` is spawn to first 200. */
  static async start(options: PlatformOptions): Promise<{ platform: Platform; readyMs: number }> {
    const port = options.port ?? (await freePort());
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      CENTIME_ADMIN_KEY: options.adminKey,
      CENTIME_RATE_LIMIT_PER_SECOND: "0",
      LOG_LEVEL: "warn",
      ...options.env,
    };
    delete env.DATABASE_URL;
    delete env.CENTIME_DATA_DIR;
    if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
    if (options.dataDir) env.CENTIME_DATA_DIR = options.dataDir;
    const nodeArgs = options.cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [...nodeArgs, "--import", "tsx", "src/main.ts", ...(options.args ?? ["start"])],
      {
        cwd: PLATFORM_ROOT,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    stopWithThisProcess(child);
    const platform = new Platform(child, `http://127.0.0.1:${port}`, options.adminKey);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
    for (;;) {
      if (!platform.running) {
        throw new Error(`the platform exited before it was ready:\n${platform.tail()}`);
      }
      try {
        const response = await fetch(`${platform.url}/ready`, { signal: AbortSignal.timeout(1000) });
        await response.arrayBuffer();
        if (response.status === 200) return { platform, readyMs: performance.now() - started };
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await platform.stop();
        throw new Error(`the platform was not ready within the timeout:\n${platform.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves with the exit code. */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async request(
    method: string,
    path: string,
    key: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: unknown }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, json };
  }
}

/** Samples a process's resident set size (VmRSS) every `intervalMs` and keeps the peak. */
export class RssSampler {
  private peakKb = 0;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 200,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const kb = rssKb(this.pid);
    if (kb !== null && kb > this.peakKb) this.peakKb = kb;
  }

  /** Peak since the last reset, in MB; starts a new window. */
  takePeakMb(): number {
    this.sample();
    const mb = this.peakKb / 1024;
    this.peakKb = 0;
    return mb;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * The fields of /proc/<pid>/stat after the command name (which may contain spaces), from the state
 * field on; null if the process is gone or /proc is absent.
 */
function statFields(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** User + system CPU time of a process so far, in ms (from /proc/<pid>/stat); null if unreadable. */
export function cpuMs(pid: number): number | null {
  const fields = statFields(pid);
  if (!fields) return null;
  // utime and stime are the stat file's fields 14 and 15, the 12th and 13th from the state field.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS : null;
}

/** Busy CPU of the whole machine since boot, in ms summed over its cores (/proc/stat); 0 if unreadable. */
export function machineBusyMs(): number {
  let line: string;
  try {
    line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  } catch {
    return 0;
  }
  // cpu  user nice system idle iowait irq softirq steal …, in clock ticks; idle and iowait are not busy.
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const ticks = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** A process and every process below it (a `--processes N` primary and its cluster processes). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return [pid];
  }
  for (const entry of entries) {
    const fields = statFields(entry); // null: gone meanwhile
    if (!fields) continue;
    const ppid = Number(fields[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const visit = (p: number) => {
    out.push(p);
    for (const child of children.get(p) ?? []) visit(child);
  };
  visit(pid);
  return out;
}

/** USER_HZ: 100 on every Linux the bench runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100;

export function rssKb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
