/**
 * `centime start` as a user meets it: on a fresh store without CENTIME_ADMIN_KEY it prints an
 * admin key once and the /docs URL; the key works; the OpenAPI document, the docs page and
 * /ready answer; the CLI's help and `migrate --status` say what they should; a restart on the
 * existing store prints no key and keeps the first one working (its time is printed, never
 * asserted). Runs on a fresh embedded data directory always, and on a fresh PostgreSQL database
 * too when DATABASE_URL is set.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  childEnv,
  createMerchantOver,
  embeddedStore,
  http,
  killAllChildren,
  type ProcessStore,
  postgresStore,
  runCentime,
  startCentime,
} from "../support/process.ts";

const stores: ProcessStore[] = [];
after(async () => {
  killAllChildren();
  for (const store of stores) await store.cleanup();
});

const ADMIN_KEY_PATTERN = /sk_admin_[0-9A-Za-z_]+/g;

test("centime --help lists start, migrate and bench", async () => {
  const help = await runCentime(["--help"], childEnv({}));
  assert.equal(help.code, 0, help.stderr);
  for (const command of ["start", "migrate", "bench"]) {
    assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, "m"), `help lists ${command}`);
  }
});

const backends: Array<{ name: string; store: () => Promise<ProcessStore> }> = [
  { name: "embedded", store: async () => embeddedStore("centime-start-") },
];
const serverUrl = process.env.DATABASE_URL;
if (serverUrl) backends.push({ name: "postgres", store: () => postgresStore(serverUrl, "centime_start_") });

for (const backend of backends) {
  describe(`first start and restart (${backend.name})`, () => {
    let store: ProcessStore;
    let adminKey = "";

    test("a fresh start without CENTIME_ADMIN_KEY prints an admin key once and the /docs URL", async () => {
      store = await backend.store();
      stores.push(store);
      const env = { ...store.env, CENTIME_ADMIN_KEY: undefined };
      const server = await startCentime(env);
      try {
        const stdout = server.stdout();
        const keys = stdout.match(ADMIN_KEY_PATTERN) ?? [];
        assert.equal(keys.length, 1, `exactly one admin key printed:\n${stdout}`);
        adminKey = keys[0]!;
        assert.ok(stdout.includes(`${server.url}/docs`), `the docs URL is printed:\n${stdout}`);

        const { secretKey } = await createMerchantOver(server.url, adminKey, "First studio");
        assert.match(secretKey, /^sk_test_/);
        const wrong = await http(server.url, "POST", "/v1/merchants", {
          key: `${adminKey}x`,
          body: { name: "Nope" },
        });
        assert.equal(wrong.status, 401, wrong.text);

        const openapi = await http<{ openapi: string; paths: Record<string, unknown> }>(
          server.url,
          "GET",
          "/openapi.json",
        );
        assert.equal(openapi.status, 200);
        assert.match(openapi.body.openapi, /^3\.1\./);
        assert.ok("/v1/payments" in openapi.body.paths, Object.keys(openapi.body.paths).join(", "));

        const docs = await http(server.url, "GET", "/docs");
        assert.equal(docs.status, 200);
        assert.match(docs.headers.get("content-type") ?? "", /text\/html/);
        assert.match(docs.text, /<html/i);

        const ready = await http<{ status: string; migrations: { applied: number[]; pending: number[] } }>(
          server.url,
          "GET",
          "/ready",
        );
        assert.equal(ready.status, 200, ready.text);
        assert.equal(ready.body.status, "ready");
        assert.ok(ready.body.migrations.applied.length > 0, "migrations applied");
        assert.deepEqual(ready.body.migrations.pending, []);
      } finally {
        const exit = await server.stop();
        assert.equal(exit.code, 0, `a graceful stop exits 0: ${server.stderr()}`);
      }
      console.log(`first start on a fresh ${backend.name} store: ${server.startMs.toFixed(0)} ms`);
    });

    test("migrate --status reports nothing pending", async () => {
      assert.ok(adminKey, "the first start ran");
      const status = await runCentime(["migrate", "--status"], childEnv({ ...store.env }));
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^pending: none$/m);
      assert.doesNotMatch(status.stdout, /^applied: none$/m);
    });

    test("a restart on the existing store prints no admin key, and the first one still works", async () => {
      assert.ok(adminKey, "the first start ran");
      const server = await startCentime({ ...store.env, CENTIME_ADMIN_KEY: undefined });
      try {
        assert.doesNotMatch(server.stdout(), /sk_admin_/, "no admin key printed again");
        await createMerchantOver(server.url, adminKey, "Second studio");
        const ready = await http(server.url, "GET", "/ready");
        assert.equal(ready.status, 200, ready.text);
      } finally {
        await server.stop();
      }
      console.log(`restart on the existing ${backend.name} store: ${server.startMs.toFixed(0)} ms`);
    });
  });
}
