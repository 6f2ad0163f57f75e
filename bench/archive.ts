/**
 * The interaction archive writer: rows per second it moves from the staging table to compressed
 * daily files, bytes per row in the database before and in the archive after, and how long reading
 * one payment's bodies back takes. Bodies are real CAMARA exchanges (the connector against the
 * carrier simulator, recorded), varied per row.
 *
 *   node --import tsx bench/archive.ts [--rows 200000] [--batch 2000] [--shared]
 *
 * Runs on a PostgreSQL cluster of its own (as bench/storage.ts), or the server of BENCH_PG_URL
 * with --shared; one writer (the job runs once at a time per worker process).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CamaraConnector } from "../src/connectors/camara/index.ts";
import { getOperator } from "../src/connectors/operators/registry.ts";
import { MemoryLog } from "../src/connectors/sdk/types.ts";
import { migrate } from "../src/db/migrate.ts";
import { openPostgres } from "../src/db/postgres.ts";
import { InteractionArchive } from "../src/payments/interaction-archive.ts";
import { newId } from "../src/platform/ids.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { OwnCluster } from "./storage.ts";

function filesBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((sum, e) => sum + statSync(join(e.parentPath, e.name)).size, 0);
}

async function realExchanges(count: number) {
  const sim = await startSimulator({ seed: 3, instant: true, httpPort: 0, smppPort: 0 });
  const log = new MemoryLog();
  const connector = new CamaraConnector({
    operator: { ...getOperator("20801")!, tps_max: 1e9 },
    log,
    http_url: sim.httpUrl,
  });
  for (let i = 0; i < count; i++) {
    await connector.charge({
      attempt_id: `at_${randomBytes(8).toString("hex")}`,
      msisdn: `+3361${String(i).padStart(5, "0")}99`,
      amount: 199n,
      currency: "EUR",
      description: "Weekly pass",
    });
  }
  await sim.close();
  return log.entries;
}

async function main() {
  const { values } = parseArgs({
    options: {
      rows: { type: "string", default: "200000" },
      batch: { type: "string", default: "2000" },
      shared: { type: "boolean", default: false },
    },
  });
  const rows = Number(values.rows);
  const batch = Number(values.batch);
  const cluster = values.shared ? null : await OwnCluster.create();
  const adminUrl =
    cluster?.adminUrl ?? process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `centime_archive_${randomBytes(4).toString("hex")}`;
  const admin = await openPostgres({ url: adminUrl, poolSizeMax: 1 });
  await admin.query(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = await openPostgres({ url: url.toString() });
  const dir = mkdtempSync(join(tmpdir(), "centime-archive-bench-"));
  try {
    await migrate(db);
    const samples = await realExchanges(50);
    console.log(
      `${samples.length} real CAMARA exchanges recorded; a request+response is ~${Math.round(
        samples.reduce(
          (s, e) => s + JSON.stringify(e.request).length + JSON.stringify(e.response).length,
          0,
        ) / samples.length,
      )} bytes of JSON`,
    );
    const day = Date.parse("2026-11-29T00:00:00Z");
    let written = 0;
    const sizeBefore = async () =>
      Number(
        (
          await db.query<{ b: string }>(
            "select (pg_total_relation_size('provider_interactions') + pg_total_relation_size('provider_interaction_bodies'))::text as b",
          )
        ).rows[0]!.b,
      );
    const empty = await sizeBefore();
    while (written < rows) {
      const n = Math.min(5000, rows - written);
      const chunk = Array.from({ length: n }, (_, i) => {
        const at = day + Math.floor(((written + i) / rows) * 86_400_000);
        const e = samples[(written + i) % samples.length]!;
        // Vary what differs between real exchanges: the attempt, the number, the reference.
        const attempt = `at_${(written + i).toString(36).padStart(8, "0")}`;
        const text = (v: unknown) =>
          JSON.stringify(v)
            .replaceAll(e.attempt_id ?? "\u0000", attempt)
            .replace(/\+3361\d{5}99/g, `+3361${String((written + i) % 100_000).padStart(5, "0")}99`);
        return {
          id: newId("ix", at),
          provider: "carrier",
          operation: `${e.protocol}.${e.operation}`,
          attempt_id: attempt,
          request: JSON.parse(text(e.request)),
          response: JSON.parse(text(e.response)),
          outcome: e.outcome,
          latency_ms: 15,
          created: new Date(at).toISOString(),
          operator: "20801",
        };
      });
      await db.query(
        "insert into provider_interactions select * from json_populate_recordset(null::provider_interactions, $1::json)",
        [JSON.stringify(chunk)],
      );
      written += n;
    }
    await db.query("vacuum analyze provider_interactions, provider_interaction_bodies");
    const staged = (await sizeBefore()) - empty;
    const archive = new InteractionArchive(dir);
    const t0 = performance.now();
    let moved = 0;
    for (let n = await archive.archiveBatch(db, batch); n > 0; n = await archive.archiveBatch(db, batch))
      moved += n;
    const seconds = (performance.now() - t0) / 1000;
    await db.query(
      "vacuum analyze provider_interactions, provider_interaction_bodies, provider_interaction_archive",
    );
    const after = (await sizeBefore()) - empty;
    const archiveBytes = filesBytes(dir);
    const blocks = Number(
      (await db.query<{ n: string }>("select count(*)::text as n from provider_interaction_archive")).rows[0]!
        .n,
    );
    const blockTableBytes = Number(
      (
        await db.query<{ b: string }>(
          "select pg_total_relation_size('provider_interaction_archive')::text as b",
        )
      ).rows[0]!.b,
    );
    // Reading back: one payment's exchanges (2 ids) at random, from a fresh reader each time (no block cache).
    const { rows: ids } = await db.query<{ id: string }>(
      "select id from provider_interactions tablesample bernoulli(0.1) limit 200",
    );
    const r0 = performance.now();
    for (const { id } of ids) {
      const fresh = new InteractionArchive(dir);
      const [row] = await fresh.attachBodies(db, [{ id, request: null, response: null, has_body: true }]);
      if (row!.request === null) throw new Error(`no body read back for ${id}`);
    }
    const readMs = (performance.now() - r0) / ids.length;
    console.log(
      `archive writer: ${moved.toLocaleString("en-US")} rows in ${seconds.toFixed(1)} s = ${Math.round(moved / seconds).toLocaleString("en-US")} rows/s (batch ${batch}, brotli q7)`,
    );
    console.log(
      `database, interactions + staged bodies (after vacuum): ${Math.round(staged / rows)} bytes/row before archiving, ${Math.round(after / rows)} after (+ ${Math.round(blockTableBytes / rows)} for ${blocks} block rows)`,
    );
    console.log(
      `archive files: ${Math.round(archiveBytes / rows)} bytes/row (${(archiveBytes / 1e6).toFixed(1)} MB)`,
    );
    console.log(`reading one interaction's bodies back, cold block cache: ${readMs.toFixed(2)} ms`);
  } finally {
    await db.close();
    await admin.query(`drop database if exists ${name} with (force)`).catch(() => {});
    await admin.close();
    cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
