/**
 * The cost of claiming idempotency keys before and after their day partitions (0323–0325: a claim
 * trigger with a per-key advisory lock and a lookup in every partition; 0330: the lookup bounded to
 * a day either side, three day partitions; 0351: one claim per statement instead of a trigger per
 * row). Four databases on one server, migrated up to 0322, 0325, 0350 and to the end, claimed in
 * interleaved rounds of batches (as group commit claims them), so the machine's noise falls on all
 * alike. Keys are stamped a day after the cutover (in a
 * day partition, yesterday's existing, as in steady state; stamped now they would go to the
 * legacy partition, where 0330 keeps the full lookup).
 *
 *   node --import tsx bench/idempotency-claims.ts [--rounds 6] [--batches 200] [--batch 50]
 *
 * On the server of BENCH_PG_URL (default the local one).
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import type { Db } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import { openPostgres } from "../src/db/postgres.ts";
import { claimKeysSql, idempotencyRowJson } from "../src/idempotency/index.ts";
import { DAY_MS } from "../src/platform/clock.ts";

/** The claim before day partitions (claimKeysSql up to migration 0322). */
const CLAIM_BEFORE_SQL = `insert into idempotency_keys select * from json_populate_recordset(null::idempotency_keys, $1::json)
    on conflict (merchant_id, mode, key) do update set
      request_hash = excluded.request_hash, status_code = excluded.status_code,
      response_body = excluded.response_body, created = excluded.created,
      expires_at = excluded.expires_at, resource_id = excluded.resource_id
    where idempotency_keys.expires_at <= excluded.created`;

/** The claim through the row trigger (claimKeysSql from migration 0325 to 0350). */
const CLAIM_TRIGGER_SQL = `insert into idempotency_keys
    select * from json_populate_recordset(null::idempotency_keys, $1::json)
     where idempotency_claims_distinct($1::json)
     order by merchant_id, mode, key
    on conflict do nothing`;

async function main() {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "6" },
      batches: { type: "string", default: "200" },
      batch: { type: "string", default: "50" },
    },
  });
  const adminUrl = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const admin = await openPostgres({ url: adminUrl, poolSizeMax: 1 });
  const dbs: Array<{ label: string; name: string; db: Db; sql: string; perKeyUs: number[] }> = [];
  let cutoverMs = 0;
  try {
    for (const [label, upTo, sql] of [
      ["unpartitioned (0322)", 322, CLAIM_BEFORE_SQL],
      ["day partitions, trigger of 0325", 325, CLAIM_TRIGGER_SQL],
      ["day partitions, trigger of 0330", 350, CLAIM_TRIGGER_SQL],
      ["day partitions, batch claim of 0351", undefined, claimKeysSql(1)],
    ] as const) {
      const name = `centime_claims_${randomBytes(4).toString("hex")}`;
      await admin.query(`create database ${name}`);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      const db = await openPostgres({ url: url.toString() });
      await migrate(db, upTo === undefined ? {} : { upTo });
      dbs.push({
        label,
        name,
        db,
        sql,
        perKeyUs: [],
      });
      if (upTo !== 322) {
        const { rows } = await db.query<{ at: Date }>(
          "select cutover_at as at from partitioned_tables where name = 'idempotency_keys'",
        );
        cutoverMs = rows[0]!.at.getTime();
      }
    }
    const startMs = Date.now();
    const batch = Number(values.batch);
    let n = 0;
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const target of round % 2 === 0 ? dbs : [...dbs].reverse()) {
        const t = performance.now();
        for (let b = 0; b < Number(values.batches); b++) {
          const rows = Array.from({ length: batch }, () =>
            idempotencyRowJson({
              merchantId: `mer_${n % 100}`,
              mode: "live",
              key: `k-${n++}`,
              requestHash: "h",
              statusCode: 201,
              responseBody: "x".repeat(600),
              createdMs: cutoverMs + DAY_MS + (Date.now() - startMs),
            }),
          );
          await target.db.transaction((tx) => tx.query(target.sql, [JSON.stringify(rows)]));
        }
        target.perKeyUs.push(((performance.now() - t) * 1000) / (Number(values.batches) * batch));
      }
    }
    for (const d of dbs) {
      const sorted = [...d.perKeyUs].sort((a, b) => a - b);
      console.log(
        `${d.label.padEnd(34)} per key claimed: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} µs (rounds: ${d.perKeyUs.map((x) => x.toFixed(0)).join(", ")})`,
      );
    }
  } finally {
    for (const d of dbs) {
      await d.db.close();
      await admin.query(`drop database if exists ${d.name} with (force)`).catch(() => {});
    }
    await admin.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
