/**
 * The analytics ingest's look-up of the provider calls of decided payments (DECIDED_CALLS_SQL)
 * when the wire log has a year of day partitions, as its 400-day retention gives: a custom plan
 * (PostgreSQL's default for the first executions, and whenever it judges it cheaper) against the
 * generic plan the ingest asks for. Ids prune no partition, so a custom plan is made over every
 * partition, for every batch. Then the same for one payment's calls (its timeline).
 *
 * First, a plan made while today's partition was still empty, then used once it holds the day's
 * calls (before any ANALYZE): the generic plan over the whole table, as the ingest asked for until
 * session 13, against what the ingest does now (src/analytics/calls.ts: the partitions from the
 * oldest payment's day on, index scans only). Last, the ingest's look-up once the table is analyzed.
 *
 *   node --import tsx bench/decided-calls.ts [--days 400] [--batch 1000] [--rounds 5]
 *
 * On the server of BENCH_PG_URL: a fresh database, migrated, with `--days` day partitions added
 * before today's, `--batch` payments with one call each today; dropped at the end.
 */
import { parseArgs } from "node:util";
import pg from "pg";
import {
  callsFromMs,
  DECIDED_CALLS_SQL,
  decidedCalls,
  decidedCallsSql,
  INDEX_PLAN_SQL,
} from "../src/analytics/index.ts";
import type { Queryable } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import { partitionsFrom } from "../src/db/partitions.ts";
import { openPostgres } from "../src/db/postgres.ts";
import { idFloor, newId } from "../src/platform/ids.ts";
import { createDatabase, databaseUrl, dropDatabase } from "./pg.ts";

const DAY_MS = 86_400_000;
const { values } = parseArgs({
  options: {
    days: { type: "string", default: "400" },
    batch: { type: "string", default: "1000" },
    rounds: { type: "string", default: "5" },
  },
});
const days = Number(values.days);
const batch = Number(values.batch);
const rounds = Number(values.rounds);

const name = await createDatabase("centime_bench_calls");
try {
  const url = databaseUrl(name);
  const db = await openPostgres({ url, poolSizeMax: 1 });
  await migrate(db);
  await db.close();

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  // Today's partitions exist; the legacy one holds everything before them. A year of days instead.
  const { rows: bounds } = await client.query<{ low: string }>(
    `select min(substring(pg_get_expr(c.relpartbound, c.oid) from 'FROM \\(''([^'']+)''\\)')) as low
       from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
      where p.relname = 'provider_interactions' and c.relname like 'provider_interactions_p%'`,
  );
  const firstDayMs = Date.now() - (Date.now() % DAY_MS);
  await client.query("drop table provider_interactions_legacy");
  for (let day = days; day >= 1; day--) {
    const from = idFloor("ix", firstDayMs - day * DAY_MS);
    const to = day === 1 ? bounds[0]!.low : idFloor("ix", firstDayMs - (day - 1) * DAY_MS);
    await client.query(
      `create table provider_interactions_p${new Date(firstDayMs - day * DAY_MS).toISOString().slice(0, 10).replaceAll("-", "")}
         partition of provider_interactions for values from ('${from}') to ('${to}')`,
    );
  }
  const payments = Array.from({ length: batch * 2 }, () => newId("pay"));
  // Plans made on an empty day, kept by their connection (each of its prepared statements).
  const partitions = await partitionsFrom(
    client as unknown as Queryable,
    "provider_interactions",
    callsFromMs(payments, Date.now()),
  );
  const madeEmpty = [
    {
      name: "generic plan",
      statement: "empty_generic",
      text: DECIDED_CALLS_SQL,
      settings: "set plan_cache_mode = force_generic_plan",
    },
    {
      name: "the ingest's",
      statement: "empty_ingest",
      text: decidedCallsSql(partitions),
      settings: INDEX_PLAN_SQL,
    },
  ];
  for (const plan of madeEmpty) {
    await client.query("begin");
    await client.query(plan.settings);
    await client.query({ name: plan.statement, text: plan.text, values: [payments.slice(0, batch), []] });
    await client.query("rollback");
  }
  await client.query(
    `insert into provider_interactions (id, merchant_id, mode, payment_id, provider, operation, outcome, latency_ms, created)
     select $2 || lpad(g::text, 8, '0'), 'mer_bench', 'test', p, 'sandbox', 'charge', 'succeeded', 3, now()
       from unnest($1::text[]) with ordinality as u(p, g)`,
    [payments, idFloor("ix", Date.now()).slice(0, -8)],
  );
  for (const plan of madeEmpty) {
    const times: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const ids = payments.slice(round * (batch / 5), round * (batch / 5) + batch);
      await client.query("begin");
      await client.query(plan.settings);
      const started = performance.now();
      await client.query({ name: plan.statement, text: plan.text, values: [ids, []] });
      times.push(performance.now() - started);
      await client.query("rollback");
    }
    console.log(
      `made on an empty day, ${plan.name.padEnd(18)}: ${batch} payments a batch, ${times.map((t) => t.toFixed(1)).join(", ")} ms`,
    );
  }
  await client.query("analyze provider_interactions");
  const { rows: count } = await client.query<{ n: string }>(
    "select count(*)::text as n from pg_inherits i join pg_class p on p.oid = i.inhparent where p.relname = 'provider_interactions'",
  );
  console.log(`provider_interactions: ${count[0]!.n} partitions, ${payments.length} calls today`);

  for (const [mode, named] of [
    ["auto", true],
    ["force_custom_plan", true],
    ["force_generic_plan", true],
    ["force_generic_plan", false],
  ] as const) {
    await client.query(`set plan_cache_mode = ${mode}`);
    const statement = named ? `decided_${mode}` : undefined;
    const times: number[] = [];
    let found = 0;
    for (let round = 0; round < rounds; round++) {
      const ids = payments.slice(round * (batch / 5), round * (batch / 5) + batch);
      const started = performance.now();
      const result = await client.query({
        ...(statement ? { name: statement } : {}),
        text: DECIDED_CALLS_SQL,
        values: [ids, []],
      });
      times.push(performance.now() - started);
      found = result.rowCount ?? 0;
    }
    console.log(
      `${mode.padEnd(18)} ${named ? "named  " : "unnamed"} ${batch} payments a batch, ${found} calls found: ${times.map((t) => t.toFixed(1)).join(", ")} ms`,
    );
  }
  {
    const times: number[] = [];
    let found = 0;
    for (let round = 0; round < rounds; round++) {
      const ids = payments.slice(round * (batch / 5), round * (batch / 5) + batch);
      await client.query("begin");
      const started = performance.now();
      found = (await decidedCalls(client as unknown as Queryable, Date.now(), ids, [])).length;
      times.push(performance.now() - started);
      await client.query("rollback");
    }
    console.log(
      `the ingest's look-up (${partitions.length} partitions) ${batch} payments a batch, ${found} calls found: ${times.map((t) => t.toFixed(1)).join(", ")} ms`,
    );
  }
  // A payment's own calls (its timeline): one id, the same partitions to plan over.
  for (const mode of ["auto", "force_generic_plan"]) {
    await client.query(`set plan_cache_mode = ${mode}`);
    const times: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      await client.query({
        name: `timeline_${mode}`,
        text: "select * from provider_interactions where payment_id = $1 and merchant_id = $2 order by id",
        values: [payments[round]!, "mer_bench"],
      });
      times.push(performance.now() - started);
    }
    console.log(`one payment's calls, ${mode.padEnd(18)}: ${times.map((t) => t.toFixed(1)).join(", ")} ms`);
  }
  await client.end();
} finally {
  await dropDatabase(name);
}
