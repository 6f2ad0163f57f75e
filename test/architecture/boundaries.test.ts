/**
 * Goal: the module boundaries of docs/README.md hold. No import cycles; domain folders never
 * import src/http/; routes use the HTTP kit only and are wired by src/http/app.ts only; platform/
 * and db/ stay the kernel; no new deep import past another folder's index.ts (the ones that
 * existed when the check arrived are in .dependency-cruiser-known-violations.json).
 *
 * dependency-cruiser (16.x, the last line that runs on Node 20) rather than a check of our own:
 * it resolves TypeScript imports the way tsc does (type-only ones included), finds cycles, and
 * keeps the rules declarative in one file that others can read and extend.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { test } from "node:test";
import { cruise, type ICruiseOptions, type IViolation } from "dependency-cruiser";

const require = createRequire(import.meta.url);

test("no import cycle and no forbidden import in src/", async () => {
  const config = require("../../.dependency-cruiser.cjs") as {
    forbidden: NonNullable<ICruiseOptions["ruleSet"]>["forbidden"];
    options: ICruiseOptions;
  };
  const knownViolations = JSON.parse(
    readFileSync(new URL("../../.dependency-cruiser-known-violations.json", import.meta.url), "utf8"),
  ) as IViolation[];
  const result = await cruise(["src"], {
    ...config.options,
    ruleSet: { forbidden: config.forbidden },
    knownViolations,
    validate: true,
  });
  const output = result.output;
  assert.ok(typeof output === "object", "dependency-cruiser answers its JSON result");
  const violations = output.summary.violations
    .filter((v) => v.rule.severity === "error")
    .map(
      (v) =>
        `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(" → ")})` : ""}`,
    );
  assert.deepEqual(violations, [], "see docs/README.md, 'Map of the source folders'");
  assert.ok(output.summary.totalCruised > 100, "the whole of src/ was read");
});

test("the process environment is read in src/platform/config.ts only", () => {
  const readers: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) {
        if (/\bprocess\.env\b/.test(readFileSync(path, "utf8"))) readers.push(path);
      }
    }
  };
  walk("src");
  assert.deepEqual(readers, [join("src", "platform", "config.ts")]);
});
