/**
 * Day partitions: how long the partitioning migrations (0161 prepare, 0162 validate, 0163 swap)
 * take on a big provider_interactions table and how long they block a writer inserting meanwhile,
 * and the time and WAL of removing a day by dropping its partition vs deleting its rows.
 *
 *   node --import tsx bench/partitions.ts [--rows 10000000] [--day-rows 1000000] [--shared]
 *
 * On a PostgreSQL cluster of its own (as bench/storage.ts). The writer inserts one interaction per
 * statement in a loop during each migration; its longest wait is what the migration's locks cost
 * the platform.
 */
import { parseArgs } from "node:util";
import pg from "pg";
import { migrate } from "../src/db/migrate.ts";
import { idFloor, newId } from "../src/platform/ids.ts";
import { scratchDatabase } from "./storage.ts";

const DAY = 86_400_000;

/** Rows like the wire log's metadata, ids spread over the `days` days before `endMs`. */
async function fill(
  client: pg.Client,
  rows: number,
  fromMs: number,
  spanMs: number,
  say: (l: string) => void,
) {
  await client.query(`create or replace function pg_temp.bench_id(prefix text, ms bigint, n bigint) returns text language plpgsql as $$
    declare encoded text := ''; m bigint := ms; r bigint := n;
    begin
      for i in 1..10 loop encoded := substr('0123456789abcdefghjkmnpqrstvwxyz', (m % 32)::int + 1, 1) || encoded; m := m / 32; end loop;
      for i in 1..16 loop encoded := encoded || substr('0123456789abcdefghjkmnpqrstvwxyz', (r % 32)::int + 1, 1); r := r / 32; end loop;
      return prefix || '_' || encoded;
    end $$`);
  const chunk = 500_000;
  for (let done = 0; done < rows; done += chunk) {
    const n = Math.min(chunk, rows - done);
    await client.query(
      `insert into provider_interactions (id, merchant_id, mode, payment_id, provider, operation, attempt_id, outcome, latency_ms, created, msisdn, operator, has_body)
       select pg_temp.bench_id('ix', t.ms, g), 'mer_bench' || (g % 100), 'live', 'pay_' || g, 'carrier', 'camara.charge', 'att_' || g,
              'succeeded', 20 + g % 50, to_timestamp(t.ms / 1000.0), '+33612' || lpad((g % 1000000)::text, 6, '0'), '20801', true
       from generate_series($1::bigint, $2::bigint) g
       cross join lateral (select ($3::bigint + (g * $4::bigint) / $5::bigint) as ms) t`,
      [done, done + n - 1, fromMs, spanMs, rows],
    );
    say(`  ${(done + n).toLocaleString("en-US")} rows`);
  }
}

/** Inserts one row per statement until stopped; reports count and longest wait. */
function writer(url: string) {
  let stop = false;
  let count = 0;
  let maxMs = 0;
  const done = (async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    while (!stop) {
      const t = performance.now();
      await client.query(
        `insert into provider_interactions (id, merchant_id, mode, provider, operation, outcome, latency_ms, created)
         values ($1, 'mer_w', 'live', 'carrier', 'camara.charge', 'succeeded', 10, now())`,
        [newId("ix")],
      );
      maxMs = Math.max(maxMs, performance.now() - t);
      count++;
    }
    await client.end();
  })();
  return {
    async finish() {
      stop = true;
      await done;
      return { count, maxMs };
    },
  };
}

async function walBytes(
  client: pg.Client,
  work: () => Promise<unknown>,
): Promise<{ ms: number; wal: number }> {
  const before = (await client.query<{ l: string }>("select pg_current_wal_lsn()::text as l")).rows[0]!.l;
  const t = performance.now();
  await work();
  const ms = performance.now() - t;
  const after = (await client.query<{ l: string }>("select pg_current_wal_lsn()::text as l")).rows[0]!.l;
  const d = (await client.query<{ d: string }>("select pg_wal_lsn_diff($1, $2)::text as d", [after, before]))
    .rows[0]!.d;
  return { ms, wal: Number(d) };
}

async function main() {
  const { values } = parseArgs({
    options: {
      rows: { type: "string", default: "10000000" },
      "day-rows": { type: "string", default: "1000000" },
      shared: { type: "boolean", default: false },
    },
  });
  const rows = Number(values.rows);
  const dayRows = Number(values["day-rows"]);
  const say = (line: string) => console.log(line);
  const { db, client, url, close } = await scratchDatabase("centime_partitions", { shared: values.shared });
  try {
    await migrate(db, { upTo: 160 });
    const now = Date.now();
    say(
      `filling provider_interactions with ${rows.toLocaleString("en-US")} rows over the 20 days before today…`,
    );
    const t0 = performance.now();
    await fill(client, rows, now - 20 * DAY, 19 * DAY, say);
    await client.query("vacuum analyze provider_interactions");
    const size = (
      await client.query<{ s: string }>(
        "select pg_size_pretty(pg_total_relation_size('provider_interactions')) as s",
      )
    ).rows[0]!.s;
    say(`filled in ${((performance.now() - t0) / 1000).toFixed(0)} s, ${size} with its indexes`);

    for (const [version, label] of [
      [161, "0161 prepare (CHECK … NOT VALID)"],
      [162, "0162 validate (scan, SHARE UPDATE EXCLUSIVE)"],
      [163, "0163 swap (rename, attach without scan, day partitions)"],
    ] as const) {
      const w = writer(url);
      await new Promise((r) => setTimeout(r, 300));
      const t = performance.now();
      await migrate(db, { upTo: version });
      const ms = performance.now() - t;
      await new Promise((r) => setTimeout(r, 300));
      const { count, maxMs } = await w.finish();
      say(
        `${label.padEnd(58)} ${ms.toFixed(0).padStart(7)} ms; a writer meanwhile: ${count} inserts, longest ${maxMs.toFixed(1)} ms`,
      );
    }

    // Two future days filled with dayRows each: one removed by DROP, the other by DELETE.
    const cutover = (
      await client.query<{ c: Date }>(
        "select cutover_at as c from partitioned_tables where name = 'provider_interactions'",
      )
    ).rows[0]!.c.getTime();
    const dropDay = cutover + 2 * DAY;
    const deleteDay = cutover + 3 * DAY;
    await fill(client, dayRows, dropDay, DAY - 1, () => {});
    await fill(client, dayRows, deleteDay, DAY - 1, () => {});
    await client.query("vacuum analyze provider_interactions");
    await client.query("checkpoint");
    const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll("-", "");
    const dropped = await walBytes(client, () =>
      client.query(`drop table provider_interactions_p${stamp(dropDay)}`),
    );
    await client.query("checkpoint");
    const deleted = await walBytes(client, () =>
      client.query("delete from provider_interactions where id >= $1 and id < $2", [
        idFloor("ix", deleteDay),
        idFloor("ix", deleteDay + DAY),
      ]),
    );
    say(
      `removing a day of ${dayRows.toLocaleString("en-US")} rows: drop partition ${dropped.ms.toFixed(1)} ms, ${(dropped.wal / 1024).toFixed(0)} KB WAL; ` +
        `delete ${(deleted.ms / 1000).toFixed(1)} s, ${(deleted.wal / 1e6).toFixed(0)} MB WAL (then vacuum)`,
    );
  } finally {
    await close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
