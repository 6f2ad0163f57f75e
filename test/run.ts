/**
 * `npm test`: builds the migrated database template once, then runs every test file with node's
 * test runner. With DATABASE_URL set, each file gets a fresh database on that server; otherwise
 * each file gets its own in-memory embedded database.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildEmbeddedTemplate, buildPostgresTemplate } from "./support/templates.ts";

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (entry.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
// The JetStream test needs a NATS server: it runs when CENTIME_TEST_NATS_URL names one (.ci/run
// starts one), and is left out otherwise so that `npm test` needs no server.
const natsTest = "test/stream/jetstream.test.ts";
const withNats = Boolean(process.env.CENTIME_TEST_NATS_URL);
const files = [...findTests("src"), ...findTests("test")]
  .filter((f) => filters.length === 0 || filters.some((needle) => f.includes(needle)))
  .filter((f) => withNats || f !== natsTest)
  .sort();
if (!withNats && (filters.length === 0 || filters.some((needle) => natsTest.includes(needle)))) {
  console.log(`${natsTest} left out: set CENTIME_TEST_NATS_URL to a NATS server with JetStream to run it`);
}

const databaseUrl = process.env.DATABASE_URL;
if (databaseUrl) await buildPostgresTemplate(databaseUrl);
else await buildEmbeddedTemplate();
console.log(
  `centime tests on ${databaseUrl ? "PostgreSQL" : "the embedded database"}: ${files.length} files`,
);

const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
    ...files,
  ],
  { stdio: "inherit", env: process.env },
);
process.exit(result.status ?? 1);
