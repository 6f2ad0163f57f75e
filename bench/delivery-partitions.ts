/**
 * Day partitions on webhook_deliveries: how long migrations 0320 (prepare), 0321 (validate) and
 * 0322 (swap) take on a big queue and how long they block the platform meanwhile (a writer queueing
 * deliveries through the events fan-out, one event per statement, and a worker claiming and
 * finishing deliveries), then the plan of the due-delivery claim with several days of partitions.
 *
 * Then the same for idempotency_keys (0323–0325) with a claimer inserting one key per statement.
 *
 *   node --import tsx bench/delivery-partitions.ts [--rows 2000000] [--day-rows 200000] [--keys 2000000] [--shared]
 *
 * On a PostgreSQL cluster of its own (as bench/storage.ts), or the server of BENCH_PG_URL with --shared.
 */
import { parseArgs } from "node:util";
import pg from "pg";
import type { Queryable } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import { maintainPartitions } from "../src/db/partitions.ts";
import { claimDueDeliveries, recordAttempts } from "../src/events/delivery.ts";
import { idempotencyRowJson } from "../src/idempotency/index.ts";
import { newId, sequenceIdFloor } from "../src/platform/ids.ts";
import { scratchDatabase } from "./storage.ts";

const DAY = 86_400_000;
const MERCHANT = "mer_dbench";
/** The event every filled delivery sends (a claim reads its event). */
const FILL_EVENT = newId("evt");

/** `rows` deliveries (1% pending, due over the next hour; the rest delivered) with ids from `idSql`. */
async function fill(client: pg.Client, rows: number, idSql: string, createdMs: number) {
  const chunk = 500_000;
  for (let done = 0; done < rows; done += chunk) {
    const n = Math.min(chunk, rows - done);
    await client.query(
      `insert into webhook_deliveries (${idSql ? "id, " : ""}merchant_id, mode, endpoint_id, event_id, object_id, status,
                                       attempt_count, next_attempt_at, created, updated)
       select ${idSql ? `${idSql}, ` : ""}'${MERCHANT}', 'live', 'we_bench', '${FILL_EVENT}', 'pay_' || (g % 100000),
              case when g % 100 = 0 then 'pending' else 'succeeded' end, 1,
              to_timestamp($3::bigint / 1000.0) + (g % 3600) * interval '1 second',
              to_timestamp($3::bigint / 1000.0), to_timestamp($3::bigint / 1000.0)
       from generate_series($1::bigint, $2::bigint) g`,
      [done, done + n - 1, createdMs],
    );
  }
}

/** The platform meanwhile: events fanned out to deliveries, and a worker claiming and finishing them. */
function platform(db: Parameters<typeof recordAttempts>[0], url: string) {
  let stop = false;
  const stats = { inserts: 0, insertMaxMs: 0, claims: 0, claimMaxMs: 0 };
  const writer = (async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    while (!stop) {
      const t = performance.now();
      await client.query(
        `insert into events (id, merchant_id, mode, type, object_id, data, created)
         values ($1, '${MERCHANT}', 'live', 'payment.succeeded', 'pay_w', '{}'::jsonb, now())`,
        [newId("evt")],
      );
      stats.insertMaxMs = Math.max(stats.insertMaxMs, performance.now() - t);
      stats.inserts++;
    }
    await client.end();
  })();
  const worker = (async () => {
    while (!stop) {
      const t = performance.now();
      const nowMs = Date.now() + 2 * 3_600_000;
      const claimed = await claimDueDeliveries(db, { nowMs, limit: 20 });
      await recordAttempts(
        db,
        claimed.map((delivery) => ({ delivery, result: { status: 204, latencyMs: 1 }, nowMs })),
        () => 0.5,
      );
      stats.claimMaxMs = Math.max(stats.claimMaxMs, performance.now() - t);
      stats.claims += claimed.length;
    }
  })();
  return {
    async finish() {
      stop = true;
      await Promise.all([writer, worker]);
      return stats;
    },
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      rows: { type: "string", default: "2000000" },
      "day-rows": { type: "string", default: "200000" },
      keys: { type: "string", default: "2000000" },
      shared: { type: "boolean", default: false },
    },
  });
  const rows = Number(values.rows);
  const dayRows = Number(values["day-rows"]);
  const keys = Number(values.keys);
  const say = (line: string) => console.log(line);
  const { db, client, url, close } = await scratchDatabase("centime_dparts", { shared: values.shared });
  try {
    await migrate(db, { upTo: 319 });
    await client.query(
      `insert into webhook_endpoints (id, merchant_id, mode, url, events, enabled, secret, created, updated)
       values ('we_bench', '${MERCHANT}', 'live', 'http://127.0.0.1:9/', array['*'], true, 'whsec_x', now(), now())`,
    );
    await client.query(
      `insert into events (id, merchant_id, mode, type, object_id, data, created)
       values ('${FILL_EVENT}', '${MERCHANT}', 'live', 'payment.succeeded', 'pay_fill', '{}'::jsonb, now())`,
    );
    const now = Date.now();
    say(`filling webhook_deliveries with ${rows.toLocaleString("en-US")} rows (1% pending)…`);
    const t0 = performance.now();
    await fill(client, rows, "", now - 5 * DAY);
    await client.query("vacuum analyze webhook_deliveries");
    const size = (
      await client.query<{ s: string }>(
        "select pg_size_pretty(pg_total_relation_size('webhook_deliveries')) as s",
      )
    ).rows[0]!.s;
    say(`filled in ${((performance.now() - t0) / 1000).toFixed(0)} s, ${size} with its indexes`);

    for (const [version, label] of [
      [320, "0320 prepare (CHECK … NOT VALID)"],
      [321, "0321 validate (scan, SHARE UPDATE EXCLUSIVE)"],
      [322, "0322 swap (rename, attach without scan, day partitions)"],
    ] as const) {
      const p = platform(db, url);
      await new Promise((r) => setTimeout(r, 500));
      const t = performance.now();
      await migrate(db, { upTo: version });
      const ms = performance.now() - t;
      await new Promise((r) => setTimeout(r, 500));
      const s = await p.finish();
      say(
        `${label.padEnd(58)} ${ms.toFixed(0).padStart(7)} ms; meanwhile ${s.inserts} events fanned out (longest ${s.insertMaxMs.toFixed(1)} ms), ` +
          `${s.claims} deliveries claimed and recorded (longest round ${s.claimMaxMs.toFixed(1)} ms)`,
      );
    }

    // idempotency_keys: the same three steps (0323–0325) on a day of keys, a claimer meanwhile.
    say(`filling idempotency_keys with ${keys.toLocaleString("en-US")} keys…`);
    await client.query(
      `insert into idempotency_keys (merchant_id, mode, key, request_hash, status_code, response_body, created, expires_at)
       select 'mer_' || (g % 1000), 'live', 'key-' || g, md5(g::text), 201, repeat('x', 600),
              now() - (g % 86400) * interval '1 second', now() - (g % 86400) * interval '1 second' + interval '1 day'
       from generate_series(1, $1::bigint) g`,
      [keys],
    );
    await client.query("vacuum analyze idempotency_keys");
    // The claims the code running during these migrations makes: the claim of before 0325 (the
    // current claimKeysSql calls a function 0325 creates).
    const CLAIM_BEFORE_0325 = `insert into idempotency_keys
      select * from json_populate_recordset(null::idempotency_keys, $1::json) on conflict do nothing`;
    for (const [version, label] of [
      [323, "0323 prepare (CHECK … NOT VALID)"],
      [324, "0324 validate (scan, SHARE UPDATE EXCLUSIVE)"],
      [325, "0325 swap (rename, attach without scan, claim trigger)"],
    ] as const) {
      let stop = false;
      let claims = 0;
      let maxMs = 0;
      const claimer = (async () => {
        while (!stop) {
          const t = performance.now();
          await db.query(CLAIM_BEFORE_0325, [
            JSON.stringify([
              idempotencyRowJson({
                merchantId: "mer_claimer",
                mode: "live",
                key: newId("evt"),
                requestHash: "h",
                statusCode: 201,
                responseBody: "{}",
                createdMs: Date.now(),
              }),
            ]),
          ]);
          maxMs = Math.max(maxMs, performance.now() - t);
          claims++;
        }
      })();
      await new Promise((r) => setTimeout(r, 500));
      const t = performance.now();
      await migrate(db, { upTo: version });
      const ms = performance.now() - t;
      await new Promise((r) => setTimeout(r, 500));
      stop = true;
      await claimer;
      say(
        `${label.padEnd(58)} ${ms.toFixed(0).padStart(7)} ms; meanwhile ${claims} keys claimed (longest ${maxMs.toFixed(1)} ms)`,
      );
    }
    await migrate(db);

    // Several days of partitions with rows: the 7 days from the cutover, and 7 more made by the job.
    const cutover = (
      await client.query<{ c: Date }>(
        "select cutover_at as c from partitioned_tables where name = 'webhook_deliveries'",
      )
    ).rows[0]!.c.getTime();
    await maintainPartitions(db, cutover + 7 * DAY);
    for (let day = 0; day < 14; day++) {
      const dayMs = cutover + day * DAY;
      await fill(client, dayRows, `${sequenceIdFloor(dayMs)}::bigint + g`, dayMs);
    }
    await client.query("vacuum analyze webhook_deliveries");
    const parts = (
      await client.query<{ n: number }>(
        "select count(*)::int as n from pg_inherits where inhparent = 'webhook_deliveries'::regclass",
      )
    ).rows[0]!.n;
    say(`${parts} partitions, ${(rows + 14 * dayRows).toLocaleString("en-US")} deliveries`);
    // The claim's own statement, explained (in a transaction rolled back: it updates).
    let captured: { text: string; params: unknown[] } | undefined;
    const capture: Queryable = {
      query: async (text: string, params?: unknown[]) => {
        captured = { text, params: params ?? [] };
        return { rows: [], rowCount: 0 } as never;
      },
    } as Queryable;
    for (const [label, atMs] of [
      ["due now (the legacy partition's pending rows)", Date.now()],
      ["due in 10 days (pending rows in every partition)", cutover + 10 * DAY],
    ] as const) {
      await claimDueDeliveries(capture, { nowMs: atMs, limit: 256 });
      await client.query("begin");
      const plan = await client.query<{ "QUERY PLAN": string }>(
        `explain (analyze, buffers, costs off, timing off) ${captured!.text}`,
        captured!.params,
      );
      await client.query("rollback");
      say(`\nclaim plan, ${label}:`);
      for (const row of plan.rows) say(row["QUERY PLAN"]);
    }
  } finally {
    await close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
