/**
 * A worker that dies in the archive's worst moment: a block is written and fsynced to the archive
 * file, and the process is killed (SIGKILL) before the transaction that records it and deletes
 * the staged bodies commits. Run by test/api/interaction-archive.test.ts.
 */
import { openDatabase } from "../../src/db/open.ts";
import { InteractionArchive } from "../../src/payments/interaction-archive.ts";
import { configFromEnv } from "../../src/platform/config.ts";

const config = configFromEnv();
const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
await new InteractionArchive(config.archiveDir).archiveBatch(db, 20, () => {
  process.kill(process.pid, "SIGKILL");
});
// Not reached: the kill above happens inside the batch.
process.exitCode = 3;
