/**
 * `npm run mutation -- --file <path>[:startLine-endLine[,startLine-endLine…]]`: StrykerJS over one file of the money
 * core, with the fastest test files that cover it as its command (concurrency 1: the CPU is shared).
 * Without `--file` it mutates the ledger's decisions (src/ledger/engine.ts). `--list` prints the
 * files it knows. Not part of `npm test`; docs/testing.md has the figures and the equivalent
 * survivors.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The test command per mutated file: the fastest files that still exercise it. */
const TARGETS: Record<string, string> = {
  "src/ledger/engine.ts":
    "CENTIME_PROPERTY_RUNS=300 node --import tsx --test test/ledger/engine.property.test.ts test/ledger/engine.replay.test.ts",
  "src/payments/transitions.ts": "node --import tsx --test test/payments/transitions.test.ts",
  // The API refund tests straight (the embedded template is cached): test/run.ts added 30 s a mutant.
  "src/payments/refund.ts": "node --import tsx --test test/api/refunds.test.ts",
  "src/idempotency/gate.ts": "node --import tsx --test test/idempotency/gate.unit.test.ts",
  // The dunning policy and the balance step of the plan (fitToBalance and highestCovered).
  "src/billing/policy.ts": "node --import tsx --test test/billing/ladder.unit.test.ts",
  "src/billing/steps/decide.ts": "node --import tsx --test test/billing/ladder.unit.test.ts",
  // Step 5 of a batch (what each plan becomes), with a recording stand-in for the batch's writes.
  "src/billing/steps/enact.ts": "node --import tsx --test test/billing/enact.unit.test.ts",
  // A batch's writes on the embedded database (its SQL text is not worth mutating: any change
  // fails the statement); run over the JS lines only, see docs/testing.md.
  "src/billing/steps/writes.ts": "node --import tsx --test test/billing/writes.test.ts",
  // plan() and its helpers (lines 48-190) and the settlement (207-446), each with its unit test,
  // no database (about 1 s together).
  "src/billing/engine.ts":
    "node --import tsx --test test/billing/plan.unit.test.ts test/billing/plan-caps.unit.test.ts test/billing/settle.unit.test.ts test/billing/settle-declines.unit.test.ts",
};

const args = process.argv.slice(2);
if (args.includes("--list")) {
  for (const [file, command] of Object.entries(TARGETS)) console.log(`${file}\n  ${command}`);
  process.exit(0);
}
const at = args.indexOf("--file");
const file = at >= 0 ? args[at + 1] : "src/ledger/engine.ts";
if (!file) throw new Error("--file needs a path, optionally with :startLine-endLine[,startLine-endLine…]");
const path = file.replace(/:[\d:,-]+$/, "");
// Several ranges of one file (its decision lines only) become one mutate pattern each.
const ranges = file.slice(path.length + 1);
const mutate = ranges ? ranges.split(",").map((range) => `${path}:${range}`) : [path];
const command = TARGETS[path];
if (!command) {
  console.error(`No test command for ${path}; known: ${Object.keys(TARGETS).join(", ")}`);
  process.exit(2);
}

const base = JSON.parse(readFileSync("stryker.config.json", "utf8")) as Record<string, unknown>;
const name = path.replace(/[^a-z0-9]+/gi, "-");
const config = {
  ...base,
  $schema: undefined,
  _comment: undefined,
  commandRunner: { command },
  mutate,
  concurrency: 1,
  // A mutant that hangs an API test (a lock never released) is killed by the timeout: the
  // property tests need a long one, the API tests finish in seconds.
  timeoutMS: /test\/(run\.ts|api\/)/.test(command) ? 5_000 : (base.timeoutMS as number),
  // Each file gets its own sandbox, so two runs never share one.
  tempDirName: `.stryker-tmp/${name}`,
};
const configPath = join(tmpdir(), `centime-stryker-${name}.json`);
writeFileSync(configPath, JSON.stringify(config, null, 2));
console.log(`mutating ${file} with: ${command}`);
const result = spawnSync("npx", ["stryker", "run", configPath], { stdio: "inherit" });
process.exit(result.status ?? 1);
