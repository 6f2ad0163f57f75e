/**
 * `npm run openapi:lint`: writes the served OpenAPI document to a temporary file and lints it
 * with Redocly CLI under the rules of redocly.yaml (CI runs it; errors fail, warnings are shown).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestApp } from "../support/app.ts";
import { buildEmbeddedTemplate } from "../support/templates.ts";

await buildEmbeddedTemplate();
const t = await createTestApp();
const reply = await t.app.inject({ method: "GET", url: "/openapi.json" });
await t.close();
if (reply.statusCode !== 200) throw new Error(`/openapi.json answered ${reply.statusCode}`);

const dir = mkdtempSync(join(tmpdir(), "centime-openapi-"));
try {
  const file = join(dir, "openapi.json");
  writeFileSync(file, reply.body);
  const lint = spawnSync("npx", ["redocly", "lint", "--config", "redocly.yaml", file], {
    stdio: "inherit",
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
  });
  process.exitCode = lint.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
