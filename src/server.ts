import type { FastifyInstance } from "fastify";
import { billingJobs } from "./billing/index.ts";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { openDatabase } from "./db/open.ts";
import { buildApp } from "./http/app.ts";
import { deleteExpiredIdempotencyKeys } from "./idempotency/store.ts";
import { type Job, startJobs } from "./jobs/runner.ts";
import { expireHolds, reconcileDuePayments } from "./payments/reconcile.ts";
import type { Config } from "./platform/config.ts";
import { createLogger } from "./platform/log.ts";
import { Metrics } from "./platform/metrics.ts";
import { createServices, type Services } from "./services.ts";

export type Role = "all" | "api" | "worker";

/** The background work of a worker: settling unknown outcomes, expiring holds, cleaning up. */
export function workerJobs(services: Services): Job[] {
  return [
    {
      name: "reconcile_payments",
      intervalMs: 500,
      busyThreshold: 100,
      run: () => reconcileDuePayments(services.payments, services.logger),
    },
    {
      name: "expire_holds",
      intervalMs: 5_000,
      busyThreshold: 100,
      run: () => expireHolds(services.payments),
    },
    {
      name: "delete_expired_idempotency_keys",
      intervalMs: 60_000,
      busyThreshold: 1000,
      run: () => deleteExpiredIdempotencyKeys(services.db, services.clock.nowMs()),
    },
    ...billingJobs(services.billing),
  ];
}

export interface RunningServer {
  url: string;
  services: Services;
  app: FastifyInstance | null;
  /** Set on the first start of a fresh installation: print it once. */
  generatedAdminKey: string | null;
  stop(): Promise<void>;
}

export async function startServer(config: Config, role: Role = "all", db?: Db): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  const database = db ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  try {
    const applied = await migrate(database);
    if (applied.length > 0) logger.info({ migrations: applied }, "migrations applied");
  } catch (error) {
    await database.close();
    throw error;
  }
  const services = createServices({
    config,
    db: database,
    logger,
    metrics: new Metrics({ defaultMetrics: true }),
  });
  const generatedAdminKey = await services.merchants.initAdminKey();
  const jobs = role === "api" ? null : startJobs(workerJobs(services), logger);

  let app: FastifyInstance | null = null;
  let url = "";
  if (role !== "worker") {
    app = await buildApp(services);
    url = await app.listen({ host: config.host, port: config.port });
  }

  let stopping: Promise<void> | null = null;
  return {
    url,
    services,
    app,
    generatedAdminKey,
    stop() {
      stopping ??= (async () => {
        await app?.close();
        await jobs?.stop();
        await services.committer.close();
        await database.close();
      })();
      return stopping;
    },
  };
}
