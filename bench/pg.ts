import { randomBytes } from "node:crypto";
import pg from "pg";
import { cpuMs } from "./platform.ts";

/** The maintenance database of the local server; override with BENCH_PG_URL. */
export const ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database with a random name and returns the name. */
export async function createDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  await withClient(ADMIN_URL, (c) => c.query(`create database ${name}`));
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  await withClient(ADMIN_URL, (c) => c.query(`drop database if exists ${name} with (force)`));
}

export async function serverSettings(): Promise<Record<string, string>> {
  return withClient(ADMIN_URL, async (c) => {
    const names = ["server_version", "max_connections", "synchronous_commit", "fsync", "shared_buffers"];
    const settings: Record<string, string> = {};
    for (const name of names) {
      const { rows } = await c.query<Record<string, string>>(`show ${name}`);
      settings[name] = rows[0]?.[name] ?? "?";
    }
    return settings;
  });
}

/** CPU of the PostgreSQL backends connected to `database` (the server runs on this machine). */
export async function backendsCpuMs(database: string): Promise<Map<number, number>> {
  const pids = await withClient(databaseUrl(database), async (c) => {
    const { rows } = await c.query<{ pid: number }>(
      "select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
      [database],
    );
    return rows.map((r) => r.pid);
  });
  const out = new Map<number, number>();
  for (const pid of pids) {
    const ms = cpuMs(pid);
    if (ms !== null) out.set(pid, ms);
  }
  return out;
}

/**
 * CPU the backends used between two readings. A backend that connected in between counts whole
 * (a pool reconnects after its idle timeout); one that left in between is lost, so drive the
 * platform for a moment before the first reading.
 */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, ms] of after) sum += ms - (before.get(pid) ?? 0);
  return sum;
}
