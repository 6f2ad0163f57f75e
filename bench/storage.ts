/**
 * Storage cost per payment: bytes per table (pg_total_relation_size, partitions counted in their
 * parent) and WAL bytes (pg_current_wal_lsn difference) that N realistic payments add on
 * PostgreSQL. Realistic = sandbox payments (in-process, one group commit) and carrier payments
 * through the CAMARA connector against the carrier simulator (wire log, remote attempt), spread
 * over several merchants, with a share of refunds.
 *
 *   node --import tsx bench/storage.ts                       # 20,000 payments, own cluster
 *   node --import tsx bench/storage.ts --count 100000 --label before
 *   node --import tsx bench/storage.ts --shared              # the server of BENCH_PG_URL instead
 *
 * By default the bench creates a PostgreSQL cluster of its own (initdb on a spare port in a
 * temporary directory, fsync off, everything else default) so that the WAL it measures is its
 * own: the shared server on 5432 also carries other people's tests. Results go to
 * bench/results/storage-<label>.json; compare two runs with `--compare a,b`.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { listOperators } from "../src/connectors/operators/registry.ts";
import { openPostgres } from "../src/db/postgres.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { type BenchMerchant, createMerchants } from "./load.ts";
import { freePort, newAdminKey, Platform, REPO_ROOT } from "./platform.ts";

export interface StorageResult {
  label: string;
  count: number;
  carrierShare: number;
  refundShare: number;
  payments: number;
  seconds: number;
  statuses: Record<string, number>;
  /** Bytes the run added per table (partitions summed into their parent), per payment. */
  bytesPerPayment: Record<string, number>;
  totalBytesPerPayment: number;
  walBytesPerPayment: number;
  /** Rows the run added per table. */
  rows: Record<string, number>;
  /** Archive files written (CENTIME_ARCHIVE_DIR), bytes per payment, when the platform has one. */
  archiveBytesPerPayment: number;
  server: string;
}

/** A PostgreSQL cluster of the bench's own: initdb in a temporary directory, run as `postgres` when root. */
/**
 * A fresh database for a migration benchmark: on a PostgreSQL cluster of the bench's own (big WAL,
 * nobody else's load) unless `shared`, then on BENCH_PG_URL. `db` runs Centime's code, `client`
 * the bench's long statements (no timeout); `close` drops it all.
 */
export async function scratchDatabase(
  prefix: string,
  options: { shared: boolean },
): Promise<{
  db: Awaited<ReturnType<typeof openPostgres>>;
  client: pg.Client;
  url: string;
  close: () => Promise<void>;
}> {
  const cluster = options.shared ? null : await OwnCluster.create(["max_wal_size=4GB"]);
  const adminUrl =
    cluster?.adminUrl ?? process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = await openPostgres({ url: url.toString(), queryTimeoutMs: 3_600_000 });
  const client = new pg.Client({ connectionString: url.toString(), statement_timeout: 0 });
  await client.connect();
  return {
    db,
    client,
    url: url.toString(),
    async close() {
      await client.end();
      await db.close();
      await admin.query(`drop database if exists ${name} with (force)`).catch(() => {});
      await admin.end();
      cluster?.stop();
    },
  };
}

export class OwnCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bindir: string,
    private readonly asOwner: string[],
  ) {}

  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(settings: string[] = []): Promise<OwnCluster> {
    const versions = readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a));
    const bindir = `/usr/lib/postgresql/${versions[0]}/bin`;
    const dir = mkdtempSync(join(tmpdir(), "centime-bench-pg-"));
    const port = await freePort();
    const asOwner = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
    if (asOwner.length > 0) execFileSync("chown", ["postgres", dir]);
    const run = (cmd: string, args: string[]) => {
      const [file, ...rest] = [...asOwner, cmd, ...args];
      execFileSync(file!, rest, { stdio: "ignore" });
    };
    run(`${bindir}/initdb`, [
      "-D",
      `${dir}/data`,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-sync",
    ]);
    const options = [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses=127.0.0.1",
      "-c fsync=off",
      "-c max_connections=100",
      ...settings.map((s) => `-c ${s}`),
    ].join(" ");
    run(`${bindir}/pg_ctl`, ["-D", `${dir}/data`, "-l", `${dir}/server.log`, "-w", "start", "-o", options]);
    return new OwnCluster(dir, port, bindir, asOwner);
  }

  /**
   * A streaming standby of this cluster (pg_basebackup -R -X stream), in hot standby on a port of
   * its own: reads that may lag go there. Stopped with this cluster's `stop`.
   */
  async standby(): Promise<{ port: number; url(database: string): string; lagBytes(): Promise<number> }> {
    const port = await freePort();
    const run = (cmd: string, args: string[]) => {
      const [file, ...rest] = [...this.asOwner, cmd, ...args];
      execFileSync(file!, rest, { stdio: "ignore" });
    };
    run(`${this.bindir}/pg_basebackup`, [
      "-h",
      "127.0.0.1",
      "-p",
      String(this.port),
      "-U",
      "postgres",
      "-D",
      `${this.dir}/standby`,
      "-R",
      "-X",
      "stream",
      "--no-sync",
    ]);
    const options = [
      `-p ${port}`,
      `-k ${this.dir}`,
      "-c listen_addresses=127.0.0.1",
      "-c fsync=off",
      "-c max_connections=100",
      "-c hot_standby=on",
    ].join(" ");
    run(`${this.bindir}/pg_ctl`, [
      "-D",
      `${this.dir}/standby`,
      "-l",
      `${this.dir}/standby.log`,
      "-w",
      "start",
      "-o",
      options,
    ]);
    this.standbyStarted = true;
    const adminUrl = this.adminUrl;
    return {
      port,
      url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
      /** Bytes of WAL the primary has sent past what the standby has replayed. */
      async lagBytes() {
        const client = new pg.Client({ connectionString: adminUrl });
        await client.connect();
        try {
          const { rows } = await client.query<{ lag: string | null }>(
            "select max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::text as lag from pg_stat_replication",
          );
          return Number(rows[0]?.lag ?? 0);
        } finally {
          await client.end();
        }
      },
    };
  }

  private standbyStarted = false;

  stop(): void {
    if (this.standbyStarted) {
      try {
        const [file, ...rest] = [
          ...this.asOwner,
          `${this.bindir}/pg_ctl`,
          "-D",
          `${this.dir}/standby`,
          "stop",
          "-m",
          "immediate",
        ];
        execFileSync(file!, rest, { stdio: "ignore" });
      } catch {
        // already stopped
      }
    }
    try {
      const [file, ...rest] = [
        ...this.asOwner,
        `${this.bindir}/pg_ctl`,
        "-D",
        `${this.dir}/data`,
        "stop",
        "-m",
        "fast",
      ];
      execFileSync(file!, rest, { stdio: "ignore" });
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const TABLE_SIZES_SQL = `
  select coalesce(pg_partition_root(c.oid), c.oid)::regclass::text as name,
         sum(pg_total_relation_size(c.oid))::bigint as bytes,
         sum(greatest(c.reltuples, 0))::bigint as est_rows
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = 'public' and c.relkind = 'r'
  group by 1`;

export async function tableSizes(client: pg.Client): Promise<Map<string, number>> {
  const { rows } = await client.query<{ name: string; bytes: string }>(TABLE_SIZES_SQL);
  return new Map(rows.map((r) => [r.name, Number(r.bytes)]));
}

export async function rowCounts(client: pg.Client, tables: Iterable<string>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const table of tables) {
    const { rows } = await client.query<{ n: string }>(`select count(*)::text as n from ${table}`);
    counts.set(table, Number(rows[0]!.n));
  }
  return counts;
}

export async function walLsn(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>("select pg_current_wal_lsn()::text as lsn");
  return rows[0]!.lsn;
}

function dirBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else total += readFileSync(path).length;
    }
  };
  walk(dir);
  return total;
}

/** A French CAMARA number (+3361…99), never one of the simulator's special numbers. */
function msisdn(n: number): string {
  return `+3361${String(n % 100_000).padStart(5, "0")}99`;
}

async function drivePayments(options: {
  platform: Platform;
  merchants: BenchMerchant[];
  count: number;
  carrierShare: number;
  refundShare: number;
  concurrency: number;
  operators: string[];
  start: number;
  say: (line: string) => void;
}): Promise<{ ok: number; failed: Record<string, number> }> {
  const { platform, merchants, count } = options;
  const run = randomBytes(4).toString("hex");
  let next = 0;
  let ok = 0;
  const failed: Record<string, number> = {};
  let lastReport = Date.now();
  const one = async (i: number) => {
    const merchant = merchants[i % merchants.length]!;
    // Deterministic mix: every k-th payment goes to the carrier.
    const carrier = (i * options.carrierShare) % 1 < options.carrierShare && options.carrierShare > 0;
    const n = options.start + i;
    const body = carrier
      ? {
          amount: 199,
          currency: "EUR",
          description: "Weekly pass",
          payment_method: {
            type: "carrier",
            msisdn: msisdn(n),
            operator: options.operators[n % options.operators.length],
          },
          metadata: { order: `o-${n}` },
        }
      : {
          amount: 499,
          currency: "EUR",
          description: "Premium article",
          payment_method: { type: "sandbox", scenario: "approve" },
          metadata: { order: `o-${n}` },
        };
    const res = await platform.request("POST", "/v1/payments", merchant.secretKey, body, {
      "idempotency-key": `storage-${run}-${i}`,
    });
    const payment = res.json as { id?: string; status?: string };
    if (res.status !== 201 && res.status !== 200) {
      failed[String(res.status)] = (failed[String(res.status)] ?? 0) + 1;
      return;
    }
    ok++;
    if (payment.status === "succeeded" && (i * options.refundShare) % 1 < options.refundShare) {
      const refund = await platform.request(
        "POST",
        "/v1/refunds",
        merchant.secretKey,
        { payment: payment.id, amount: 100 },
        { "idempotency-key": `storage-refund-${run}-${i}` },
      );
      if (refund.status >= 300)
        failed[`refund ${refund.status}`] = (failed[`refund ${refund.status}`] ?? 0) + 1;
    }
  };
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await one(i);
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        options.say(`  ${next.toLocaleString("en-US")} / ${count.toLocaleString("en-US")} sent`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { ok, failed };
}

async function waitQuiet(client: pg.Client, say: (line: string) => void): Promise<void> {
  // Unclaimed wire exchanges are flushed a second or so later; bodies staged for the archive
  // (when the platform has the archive) are moved by its job: wait for both.
  const deadline = Date.now() + 120_000;
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1500));
    const { rows } = await client.query<{ n: string }>(
      "select count(*)::text as n from provider_interactions",
    );
    let staged = 0;
    try {
      const s = await client.query<{ n: string }>(
        "select count(*)::text as n from provider_interaction_bodies",
      );
      staged = Number(s.rows[0]!.n);
    } catch {
      // no staging table (before the archive)
    }
    const n = Number(rows[0]!.n);
    if (n === last && staged === 0) return;
    if (Date.now() > deadline) {
      say(`  still ${staged} bodies staged after 120 s; measuring anyway`);
      return;
    }
    last = n;
  }
}

export async function runStorageBench(options: {
  count: number;
  carrierShare: number;
  refundShare: number;
  merchants: number;
  concurrency: number;
  label: string;
  shared: boolean;
  say: (line: string) => void;
}): Promise<StorageResult> {
  const { say } = options;
  const cluster = options.shared ? null : await OwnCluster.create();
  const adminUrl =
    cluster?.adminUrl ?? process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const database = `centime_storage_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${database}`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const archiveDir = mkdtempSync(join(tmpdir(), "centime-bench-archive-"));
  const sim: Simulator = await startSimulator({
    seed: 7,
    instant: true,
    httpPort: 0,
    smppPort: 0,
    dlr_duplicate_rate: 0,
    dlr_out_of_order_rate: 0,
  });
  let platform: Platform | null = null;
  const client = new pg.Client({ connectionString: url.toString() });
  try {
    const started = await Platform.start({
      databaseUrl: url.toString(),
      adminKey: newAdminKey(),
      env: {
        CENTIME_CARRIER_NETWORK_URL: sim.httpUrl,
        CENTIME_CARRIER_SMPP: `127.0.0.1:${sim.smppPort}`,
        CENTIME_ARCHIVE_DIR: archiveDir,
      },
    });
    platform = started.platform;
    await client.connect();
    const { rows: version } = await client.query<{ v: string }>("select version() as v");
    say(`PostgreSQL ${cluster ? `cluster of its own on port ${cluster.port}` : adminUrl}: ${version[0]!.v}`);
    const merchants = await createMerchants(platform, options.merchants, `Storage ${options.label}`);
    const operators = listOperators({ country: "FR", protocol: "camara" }).map((o) => o.id);
    const common = {
      platform,
      merchants,
      carrierShare: options.carrierShare,
      refundShare: options.refundShare,
      concurrency: options.concurrency,
      operators,
      say,
    };
    // Warm-up: accounts, balances and pages exist before the measured run.
    const warm = Math.min(500, Math.max(50, Math.round(options.count / 20)));
    await drivePayments({ ...common, count: warm, start: 0 });
    await waitQuiet(client, say);
    await client.query("checkpoint");
    const sizesBefore = await tableSizes(client);
    const countsBefore = await rowCounts(client, sizesBefore.keys());
    const archiveBefore = dirBytes(archiveDir);
    const lsnBefore = await walLsn(client);
    const t0 = performance.now();
    const driven = await drivePayments({ ...common, count: options.count, start: warm });
    const seconds = (performance.now() - t0) / 1000;
    say(
      `  ${driven.ok.toLocaleString("en-US")} payments in ${seconds.toFixed(1)} s` +
        `${Object.keys(driven.failed).length ? `, refused: ${JSON.stringify(driven.failed)}` : ""}`,
    );
    await waitQuiet(client, say);
    const lsnAfter = await walLsn(client);
    const sizesAfter = await tableSizes(client);
    const countsAfter = await rowCounts(client, sizesAfter.keys());
    const archiveAfter = dirBytes(archiveDir);
    const { rows: walRows } = await client.query<{ d: string }>("select pg_wal_lsn_diff($1, $2)::text as d", [
      lsnAfter,
      lsnBefore,
    ]);
    const { rows: statusRows } = await client.query<{ status: string; n: string }>(
      "select status, count(*)::text as n from payments group by status",
    );
    const n = driven.ok;
    const bytesPerPayment: Record<string, number> = {};
    const rows: Record<string, number> = {};
    for (const [table, after] of sizesAfter) {
      const delta = after - (sizesBefore.get(table) ?? 0);
      const rowDelta = (countsAfter.get(table) ?? 0) - (countsBefore.get(table) ?? 0);
      if (delta === 0 && rowDelta === 0) continue;
      bytesPerPayment[table] = Math.round(delta / n);
      rows[table] = rowDelta;
    }
    const total = Object.values(bytesPerPayment).reduce((a, b) => a + b, 0);
    return {
      label: options.label,
      count: options.count,
      carrierShare: options.carrierShare,
      refundShare: options.refundShare,
      payments: n,
      seconds,
      statuses: Object.fromEntries(statusRows.map((r) => [r.status, Number(r.n)])),
      bytesPerPayment,
      totalBytesPerPayment: total,
      walBytesPerPayment: Math.round(Number(walRows[0]!.d) / n),
      rows,
      archiveBytesPerPayment: Math.round((archiveAfter - archiveBefore) / n),
      server: version[0]!.v,
    };
  } finally {
    await client.end().catch(() => {});
    if (platform) await platform.stop();
    await sim.close();
    await admin.query(`drop database if exists ${database} with (force)`).catch(() => {});
    await admin.end();
    cluster?.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  }
}

export function storageReport(results: StorageResult[]): string {
  const tables = [...new Set(results.flatMap((r) => Object.keys(r.bytesPerPayment)))].sort(
    (a, b) => (results[0]!.bytesPerPayment[b] ?? 0) - (results[0]!.bytesPerPayment[a] ?? 0),
  );
  const head = `${"table".padEnd(34)}${results.map((r) => `${r.label} B/payment`.padStart(22) + "rows/payment".padStart(14)).join("")}`;
  const lines = [head];
  for (const table of tables) {
    lines.push(
      `${table.padEnd(34)}${results
        .map(
          (r) =>
            String(r.bytesPerPayment[table] ?? 0).padStart(22) +
            (r.rows[table] === undefined ? "" : (r.rows[table]! / r.payments).toFixed(2)).padStart(14),
        )
        .join("")}`,
    );
  }
  lines.push(
    `${"total (database)".padEnd(34)}${results.map((r) => String(r.totalBytesPerPayment).padStart(22) + "".padStart(14)).join("")}`,
  );
  lines.push(
    `${"archive files".padEnd(34)}${results.map((r) => String(r.archiveBytesPerPayment).padStart(22) + "".padStart(14)).join("")}`,
  );
  lines.push(
    `${"WAL".padEnd(34)}${results.map((r) => String(r.walBytesPerPayment).padStart(22) + "".padStart(14)).join("")}`,
  );
  return lines.join("\n");
}

async function main() {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "20000" },
      carrier: { type: "string", default: "0.5" },
      refunds: { type: "string", default: "0.05" },
      merchants: { type: "string", default: "10" },
      concurrency: { type: "string", default: "32" },
      label: { type: "string", default: "run" },
      shared: { type: "boolean", default: false },
      compare: { type: "string" },
    },
  });
  const resultsDir = join(REPO_ROOT, "bench", "results");
  if (values.compare) {
    const results = values.compare
      .split(",")
      .map(
        (label) =>
          JSON.parse(readFileSync(join(resultsDir, `storage-${label}.json`), "utf8")) as StorageResult,
      );
    console.log(storageReport(results));
    return;
  }
  const result = await runStorageBench({
    count: Number(values.count),
    carrierShare: Number(values.carrier),
    refundShare: Number(values.refunds),
    merchants: Number(values.merchants),
    concurrency: Number(values.concurrency),
    label: values.label!,
    shared: values.shared!,
    say: (line) => console.log(line),
  });
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `storage-${result.label}.json`), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`statuses: ${JSON.stringify(result.statuses)}`);
  console.log(storageReport([result]));
}

const invoked = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, "/"));
if (invoked) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
