/**
 * The CLI as documented: `centime --help` (through bin/, the way npx runs it) and every
 * subcommand's --help exit 0 without a stack trace; a wrong option exits 2 with the command's
 * usage and no stack trace; every environment variable the sources read is in --help and in the
 * README.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ENVIRONMENT } from "../../src/cli/environment.ts";
import { COMMAND_HELP } from "../../src/cli/help.ts";
import { runCli } from "../../src/cli/index.ts";
import { nodeVersionProblem } from "../../src/cli/node-version.ts";
import { childEnv, REPO_ROOT } from "../support/process.ts";

const STACK_LINE = /^\s+at .+\(.+:\d+:\d+\)$/m;

/** Runs the CLI in this process, capturing what it writes. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

test("bin/centime.js --help prints the help and exits 0 (the way npx centime runs it)", () => {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "centime.js"), "--help"], {
    env: childEnv({}),
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage: centime <command>/m);
  for (const command of ["start", "migrate", "admin-key", "listen", "simulator", "bench"]) {
    assert.match(r.stdout, new RegExp(`^\\s+${command}\\b`, "m"), `lists ${command}`);
  }
});

test("every subcommand's --help exits 0 with its usage and no stack trace", async () => {
  for (const command of Object.keys(COMMAND_HELP)) {
    for (const flag of ["--help", "-h"]) {
      const r = await cli([command, flag]);
      assert.equal(r.code, 0, `${command} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Usage: centime ${command}`), `${command} ${flag}`);
      assert.doesNotMatch(r.stdout + r.stderr, STACK_LINE);
    }
  }
  const general = await cli(["help", "listen"]);
  assert.equal(general.code, 0);
  assert.match(general.stdout, /--forward-to/);
});

test("a wrong option or a missing argument exits 2 with the command's usage, never a stack trace", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["start", "--bogus"], /Unknown option '--bogus'/],
    [["start", "--role", "cook"], /--role must be all, api or worker/],
    [["migrate", "--nope"], /Unknown option/],
    [["admin-key"], /needs --reset/],
    [["listen"], /--forward-to URL is required/],
    [
      ["listen", "--forward-to", "http://localhost:3000/hooks", "--api-key", "sk_live_x"],
      /test-mode events only/,
    ],
    [["listen", "--forward-to", "ftp://x", "--api-key", "sk_test_x"], /http:\/\/ or https:\/\//],
    [["simulator", "--http-port"], /needs a value/],
    [["bench", "--only", "nothing"], /unknown part/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.match(r.stderr, /Usage: centime /, `${args.join(" ")} shows its usage`);
    assert.doesNotMatch(r.stderr, STACK_LINE, args.join(" "));
  }
  const unknown = await cli(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|json)$/.test(entry) && !entry.endsWith(".test.ts") ? [path] : [];
  });
}

test("every environment variable the platform reads is in --help and in the README", async () => {
  const read = new Set<string>();
  for (const file of sourceFiles(join(REPO_ROOT, "src"))) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(
      /\benv\.([A-Z][A-Z0-9_]+)|env\[\s*"([A-Z][A-Z0-9_]+)"|"env:([A-Z][A-Z0-9_]+)/g,
    )) {
      read.add((m[1] ?? m[2] ?? m[3])!);
    }
  }
  // Defaults of the connectors used on their own (tests, the benchmark): `centime start` always
  // sets these from CENTIME_CARRIER_NETWORK_URL and CENTIME_CARRIER_SMPP, so they change nothing.
  for (const internal of [
    "CENTIME_CARRIER_HTTP_URL",
    "CENTIME_CARRIER_SMPP_HOST",
    "CENTIME_CARRIER_SMPP_PORT",
  ]) {
    read.delete(internal);
  }
  assert.ok(read.size >= 15, `found the variables: ${[...read].join(", ")}`);
  const documented = new Set(ENVIRONMENT.map((v) => v.name));
  const missing = [...read].filter((name) => !documented.has(name));
  assert.deepEqual(missing, [], "read by the sources but not in ENVIRONMENT (src/cli/environment.ts)");

  const help = (await cli(["--help"])).stdout;
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  for (const { name } of ENVIRONMENT) {
    assert.match(help, new RegExp(`\\b${name}\\b`), `--help names ${name}`);
    assert.ok(readme.includes(name), `the README names ${name}`);
  }
});

test("Node.js older than 20.19 is refused with a clear message", () => {
  assert.match(nodeVersionProblem("20.18.1") ?? "", /needs Node\.js 20\.19 or newer \(this is 20\.18\.1\)/);
  assert.match(nodeVersionProblem("18.20.0") ?? "", /needs Node\.js 20\.19/);
  assert.equal(nodeVersionProblem("20.19.0"), null);
  assert.equal(nodeVersionProblem("22.1.0"), null);
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    engines: { node: string };
  };
  assert.equal(pkg.engines.node, ">=20.19");
});
