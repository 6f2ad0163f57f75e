import cluster from "node:cluster";
import { migrate } from "../db/migrate.ts";
import { openDatabase } from "../db/open.ts";
import { Merchants } from "../merchants/index.ts";
import { systemClock } from "../platform/clock.ts";
import type { Config } from "../platform/config.ts";
import { startSharedCarrierNetwork } from "../server.ts";

/** A process that dies is started again after this long (not in a tight loop if it dies at once). */
const RESTART_DELAY_MS = 1_000;

export function isClusterProcess(): boolean {
  return cluster.isWorker;
}

/**
 * `centime start --processes N`: this process (the primary) applies the migrations, settles the
 * admin key and the session secret once, runs the embedded carrier network when no real one is
 * configured, then forks N processes of the same role (node:cluster) that share the listening
 * port; one that dies is started again. SIGTERM or SIGINT stops them all gracefully.
 */
export async function runCluster(
  config: Config,
  processes: number,
  say: (text: string) => void,
): Promise<{ stop(): Promise<void> }> {
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSizeMax: 2,
    preparedStatements: config.dbPreparedStatements,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    queryTimeoutMs: config.dbQueryTimeoutMs,
  });
  await migrate(db);
  const key = await new Merchants(db, systemClock, config.adminKey).initAdminKey();
  if (key) {
    say(`\nYour admin key (shown only this once; keep it safe, or set CENTIME_ADMIN_KEY):\n\n  ${key}\n\n`);
  }
  const network = config.carrierNetworkUrl ? null : await startSharedCarrierNetwork(db);
  // Page cookies must verify in whichever process a request reaches: one secret for all.
  const env = { CENTIME_SESSION_SECRET: config.sessionSecret };
  let stopping = false;
  const fork = () => cluster.fork(env);
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    say(`process ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    setTimeout(() => {
      if (!stopping) fork();
    }, RESTART_DELAY_MS).unref();
  });
  for (let i = 0; i < processes; i++) fork();
  say(`Centime primary ${process.pid}: ${processes} processes share port ${config.port}.\n`);
  return {
    async stop() {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      await Promise.all(
        workers.map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              worker.once("exit", () => resolve());
              worker.process.kill("SIGTERM");
            }),
        ),
      );
      await network?.stop();
      await db.close();
    },
  };
}
