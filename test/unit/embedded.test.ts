/** The embedded database keeps its data across a restart and counts rows like PostgreSQL. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DataDirectoryLockedError, openEmbedded } from "../../src/db/embedded.ts";
import { migrate, migrationState } from "../../src/db/migrate.ts";

test("reopening a data directory finds its migrations and rows; a second opener is refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "centime-embedded-"));
  try {
    const first = await openEmbedded({ dataDir: dir });
    assert.deepEqual(await migrate(first), [1, ...(await migrationState(first)).applied.slice(1)]);
    await first.query("insert into settings (name, value) values ('probe', 'kept')");
    const selected = await first.query("select * from settings where name = 'probe'");
    assert.equal(selected.rowCount, 1, "a SELECT counts the rows it returns");
    await assert.rejects(openEmbedded({ dataDir: dir }), DataDirectoryLockedError);
    await first.close();

    const again = await openEmbedded({ dataDir: dir });
    assert.deepEqual(await migrate(again), [], "nothing to apply on a restart");
    const { rows } = await again.query<{ value: string }>("select value from settings where name = 'probe'");
    assert.equal(rows[0]?.value, "kept");
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
