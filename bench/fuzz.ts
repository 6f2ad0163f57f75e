/**
 * The schema fuzzer of test/api/fuzz.test.ts, for longer: `npm run bench:fuzz -- [runs] [seed]`
 * (default 20,000 requests, a fresh seed each time, printed so a failure replays with
 * FUZZ_SEED=… npm test -- test/api/fuzz). Runs on the embedded database, or on PostgreSQL when
 * DATABASE_URL is set.
 */
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";

const runs = process.argv[2] ?? "20000";
const seed = process.argv[3] ?? String(Date.now() % 2 ** 31);
console.log(
  `fuzzing ${runs} requests, seed ${seed}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
const startedMs = Date.now();
const result = spawnSync(process.execPath, ["--import", "tsx", "test/run.ts", "test/api/fuzz"], {
  stdio: "inherit",
  env: { ...process.env, FUZZ_RUNS: runs, FUZZ_SEED: seed, TEST_CONCURRENCY: "1" },
});
const seconds = (Date.now() - startedMs) / 1000;
console.log(
  `${runs} requests in ${seconds.toFixed(1)} s (${(Number(runs) / seconds).toFixed(0)}/s), seed ${seed}`,
);
process.exit(result.status ?? 1);
