/**
 * The wire log out of the primary: interaction metadata stays in provider_interactions, request
 * and response bodies are staged by a trigger and moved by the archive job to compressed daily
 * files, and the interaction list and the payment timeline still show them. A worker killed
 * between writing a block and committing it loses nothing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { migrate } from "../../src/db/migrate.ts";
import { openDatabase } from "../../src/db/open.ts";
import { InteractionArchive } from "../../src/payments/interaction-archive.ts";
import { ADMIN_KEY } from "../support/app.ts";
import { childEnv, freshStore, REPO_ROOT } from "../support/process.ts";
import { eventually, http, type LiveServer, startLiveServer } from "../support/server.ts";

type Interaction = { id: string; operation: string; request: unknown; response: unknown; outcome: string };
type TimelineEntry = { type: string; request?: unknown; response?: unknown; operation?: string };

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe("a carrier payment's wire log", () => {
  let live: LiveServer;
  let key: string;
  const archiveDir = () => live.server.services.config.archiveDir;

  before(async () => {
    live = await startLiveServer();
    const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
      name: "Archive studio",
    });
    key = merchant.body.secret_key;
  });
  after(() => live.close());

  // A carrier payment's exchanges are written by its transition (the bodies trigger stages them);
  // a sandbox payment's by group commit, which stages them itself (migration 0352).
  for (const [name, payment_method] of [
    ["carrier", { type: "carrier", msisdn: "+33612340099", operator: "20801" }],
    ["sandbox", { type: "sandbox", scenario: "approve" }],
  ] as const)
    test(`keeps metadata in the database and bodies in the archive, and shows both (${name})`, async () => {
      const paid = await http<{ id: string; status: string }>(live.url, "POST", "/v1/payments", key, {
        amount: 199,
        currency: "EUR",
        payment_method,
      });
      assert.equal(paid.status, 201);
      assert.equal(paid.body.status, "succeeded");
      const id = paid.body.id;
      const list = async () =>
        (await http<{ data: Interaction[] }>(live.url, "GET", `/v1/provider_interactions?payment=${id}`, key))
          .body.data;
      const timeline = async () =>
        (
          await http<{ data: TimelineEntry[] }>(live.url, "GET", `/v1/payments/${id}/timeline`, key)
        ).body.data.filter((e) => e.type === "provider_interaction");

      const first = await list();
      assert.ok(first.length > 0, "the payment has wire exchanges");
      assert.ok(
        first.every((i) => i.request !== null && i.response !== null),
        "every exchange shows its request and response",
      );
      const firstTimeline = await timeline();

      // The metadata rows hold no body; the archive job (in the server's worker) drains the staging table.
      const db = live.database.db;
      const { rows: meta } = await db.query<{ request: unknown; response: unknown; has_body: boolean }>(
        "select request, response, has_body from provider_interactions where payment_id = $1",
        [id],
      );
      assert.ok(meta.every((r) => r.request === null && r.response === null && r.has_body === true));
      await eventually(async () => {
        const { rows } = await db.query<{ n: number }>(
          "select count(*)::int as n from provider_interaction_bodies where id = any($1::text[])",
          [first.map((i) => i.id)],
        );
        return rows[0]!.n === 0 ? true : undefined;
      });
      const { rows: blocks } = await db.query<{ file: string; codec: string }>(
        "select file, codec from provider_interaction_archive where $1::text between first_id and last_id",
        [first[0]!.id],
      );
      assert.ok(blocks.length > 0);
      assert.ok(blocks.every((b) => b.codec === "br" && /^interactions\/\d{4}-\d{2}-\d{2}\//.test(b.file)));
      assert.ok(filesUnder(archiveDir()).length > 0, "archive files are on disk");

      // Read back from the archive: the same exchanges, bodies and all, in the list and the timeline.
      assert.deepEqual(await list(), first);
      assert.deepEqual(await timeline(), firstTimeline);
    });
});

describe("a worker killed after writing a block and before committing it", () => {
  test("loses no body: the next archiver writes them again and they read back whole", async () => {
    const store = await freshStore({ embedded: "centime-archive-kill-", postgres: "centime_archive_kill_" });
    const archiveDir = mkdtempSync(join(tmpdir(), "centime-archive-kill-files-"));
    try {
      const originals = new Map<string, { request: unknown; response: unknown }>();
      {
        const db = await openDatabase({ databaseUrl: store.databaseUrl, dataDir: store.dataDir ?? "" });
        await migrate(db);
        const rows = Array.from({ length: 50 }, (_, i) => {
          const id = `ix_kill${String(i).padStart(4, "0")}`;
          const request = { method: "POST", url: "/charge", body: { amount: i + 1, msisdn: `+3361${i}` } };
          const response = { status: 200, body: { reference: `r-${i}`, text: "ok ".repeat(i) } };
          originals.set(id, { request, response });
          return {
            id,
            provider: "carrier",
            operation: "camara.charge",
            request,
            response,
            outcome: "succeeded",
            latency_ms: 12,
            created: new Date(Date.UTC(2026, 10, 30, 1, 0, i)).toISOString(),
          };
        });
        await db.query(
          "insert into provider_interactions select * from json_populate_recordset(null::provider_interactions, $1::json)",
          [JSON.stringify(rows)],
        );
        await db.close();
      }

      const child = spawn(process.execPath, ["--import", "tsx", "test/support/archive-child.ts"], {
        cwd: REPO_ROOT,
        env: childEnv({ ...store.env, CENTIME_ARCHIVE_DIR: archiveDir }),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (c: Buffer) => (output += c.toString()));
      child.stderr.on("data", (c: Buffer) => (output += c.toString()));
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal })),
      );
      assert.equal(exit.signal, "SIGKILL", `the child died of the kill, not of something else:\n${output}`);
      const orphaned = filesUnder(archiveDir);
      assert.equal(orphaned.length, 1, "the killed worker wrote its block");
      assert.ok(statSync(orphaned[0]!).size > 0);

      const db = await openDatabase({ databaseUrl: store.databaseUrl, dataDir: store.dataDir ?? "" });
      try {
        const staged = await db.query<{ n: number }>(
          "select count(*)::int as n from provider_interaction_bodies",
        );
        assert.equal(staged.rows[0]!.n, 50, "every body is still staged");
        const blocks = await db.query<{ n: number }>(
          "select count(*)::int as n from provider_interaction_archive",
        );
        assert.equal(blocks.rows[0]!.n, 0, "the block the killed worker wrote is not recorded");

        const archive = new InteractionArchive(archiveDir);
        let moved = 0;
        for (let n = await archive.archiveBatch(db, 20); n > 0; n = await archive.archiveBatch(db, 20))
          moved += n;
        assert.equal(moved, 50);
        const { rows } = await db.query<{
          id: string;
          request: unknown;
          response: unknown;
          has_body: boolean;
        }>("select id, request, response, has_body from provider_interactions order by id");
        const read = await archive.attachBodies(db, rows);
        assert.equal(read.length, 50);
        for (const row of read)
          assert.deepEqual({ request: row.request, response: row.response }, originals.get(row.id));
        const left = await db.query<{ n: number }>(
          "select count(*)::int as n from provider_interaction_bodies",
        );
        assert.equal(left.rows[0]!.n, 0);
      } finally {
        await db.close();
      }
    } finally {
      rmSync(archiveDir, { recursive: true, force: true });
      await store.cleanup();
    }
  });
});
