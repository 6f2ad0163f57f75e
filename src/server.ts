import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { analyticsJobs } from "./analytics/index.ts";
import { billingJobs } from "./billing/index.ts";
import { communityJobs } from "./community/index.ts";
import { closeConnectors, configureCarrierNetwork } from "./connectors/operators/index.ts";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { openDatabase } from "./db/open.ts";
import { startWebhookWorker } from "./events/worker.ts";
import { buildApp } from "./http/app.ts";
import { deleteExpiredIdempotencyKeys } from "./idempotency/store.ts";
import { type Job, startJobs } from "./jobs/runner.ts";
import { buildOpsApp, registerOperationalGauges } from "./ops/index.ts";
import { describeLiveProviders, liveProviders, liveStartProblem } from "./payments/live-mode.ts";
import { CarrierProvider } from "./payments/providers/carrier.ts";
import { expireHolds, reconcileDuePayments, reconcileDueRefunds } from "./payments/reconcile.ts";
import type { Config } from "./platform/config.ts";
import { createLogger } from "./platform/log.ts";
import { Metrics } from "./platform/metrics.ts";
import { reportUnexpectedTo } from "./platform/process-guards.ts";
import { connectProviders, createServices, type Services } from "./services.ts";
import { type Simulator, startSimulator } from "./simulator/index.ts";
import { startStreamPublisher } from "./stream/index.ts";

export type Role = "all" | "api" | "worker";

/** The configuration is unsafe to start with (e.g. a live provider with a default secret). */
export class StartRefused extends Error {}

/** The background work of a worker: settling unknown outcomes, expiring holds, cleaning up. */
export function workerJobs(services: Services): Job[] {
  return [
    {
      name: "reconcile_payments",
      intervalMs: 500,
      busyThreshold: 100,
      run: () =>
        reconcileDuePayments(services.payments, services.logger, {
          backoffMaxMs: services.config.reconcileBackoffMaxMs,
          unresolvedAfterMs: services.config.reconcileUnresolvedAfterMs,
        }),
    },
    {
      name: "reconcile_refunds",
      intervalMs: 1_000,
      busyThreshold: 100,
      run: () => reconcileDueRefunds(services.payments, services.logger),
    },
    {
      name: "settlement_files",
      intervalMs: 1_000,
      run: async () => {
        const carrier = services.payments.providers.get("carrier");
        return carrier instanceof CarrierProvider ? carrier.exchangeSettlementFiles() : 0;
      },
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
    ...billingJobs(services.billing, services.metrics),
    ...services.checkout.jobs(),
    ...analyticsJobs(services),
    ...communityJobs(services.community, services.clock),
  ];
}

/**
 * Operators live where CENTIME_CARRIER_NETWORK_URL says; unset, an embedded carrier network
 * simulator serves every protocol on free local ports, so carrier and card payments work with no
 * set-up (one process: split API and worker roles need a shared network, `centime simulator`).
 */
async function connectCarrierNetwork(config: Config): Promise<Simulator | null> {
  if (config.carrierNetworkUrl) {
    configureCarrierNetwork({
      http_url: config.carrierNetworkUrl,
      ...(config.carrierSmpp
        ? { smpp_host: config.carrierSmpp.host, smpp_port: config.carrierSmpp.port }
        : {}),
    });
    return null;
  }
  const simulator = await startSimulator({
    seed: 1,
    httpPort: 0,
    smppPort: 0,
    settlement_interval_ms: 1_000,
  });
  configureCarrierNetwork({
    http_url: simulator.httpUrl,
    smpp_host: "127.0.0.1",
    smpp_port: simulator.smppPort,
    settlement_dir: simulator.settlementDir,
  });
  return simulator;
}

/** Tokens in callback URLs are signed with a secret that survives restarts. */
async function callbackSecret(db: Db): Promise<string> {
  await db.query(
    "insert into settings (name, value) values ('callback_secret', $1) on conflict (name) do nothing",
    [randomBytes(32).toString("base64url")],
  );
  const { rows } = await db.query<{ value: string }>(
    "select value from settings where name = 'callback_secret'",
  );
  return rows[0]!.value;
}

export interface RunningServer {
  url: string;
  services: Services;
  app: FastifyInstance | null;
  /** Set on the first start of a fresh installation: print it once. */
  generatedAdminKey: string | null;
  /** A worker's own /health, /ready and /metrics (role worker only). */
  workerUrl: string;
  /** Which live providers are ready, for the start banner. */
  liveSummary: string;
  stop(): Promise<void>;
}

export async function startServer(config: Config, role: Role = "all", db?: Db): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  const live = liveProviders(config.live);
  const refusal = liveStartProblem(config.live, live);
  if (refusal) throw new StartRefused(refusal);
  const metrics = new Metrics({ defaultMetrics: true });
  reportUnexpectedTo(logger, (kind) => metrics.unexpectedErrors.inc({ kind }));
  const database =
    db ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSizeMax: config.dbPoolSize,
      writeConcurrencyMax: config.writeConcurrency,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      queryTimeoutMs: config.dbQueryTimeoutMs,
      onConnectionError: (error) => {
        metrics.databaseConnectionErrors.inc();
        logger.warn({ err: error }, "a database connection was lost; the pool opens another");
      },
    }));
  try {
    const applied = await migrate(database);
    if (applied.length > 0) logger.info({ migrations: applied }, "migrations applied");
  } catch (error) {
    await database.close();
    throw error;
  }
  const services = createServices({ config, db: database, logger, metrics });
  registerOperationalGauges(services);
  const generatedAdminKey = await services.merchants.initAdminKey();
  const simulator = await connectCarrierNetwork(config);
  services.recorder.start();
  const jobs = role === "api" ? null : startJobs(workerJobs(services), logger, metrics);
  const webhooks =
    role === "api"
      ? null
      : startWebhookWorker({
          db: database,
          clock: services.clock,
          logger,
          prune: true,
          concurrency: config.webhookConcurrency,
          onAttempt: (endpoint, result) => metrics.webhookAttempts.inc({ endpoint, result }),
        });

  // The change stream to NATS JetStream, when CENTIME_NATS_URL says where.
  const stream =
    role === "api" || !config.natsUrl
      ? null
      : await startStreamPublisher({
          db: database,
          clock: services.clock,
          url: config.natsUrl,
          stream: config.natsStream,
          subject: config.natsSubject,
          logger,
        });

  let app: FastifyInstance | null = null;
  let url = "";
  let workerUrl = "";
  if (role !== "worker") {
    app = await buildApp(services);
    url = await app.listen({ host: config.host, port: config.port });
  } else {
    // A worker has no API, but is probed and scraped like any process.
    app = await buildOpsApp(services, role);
    workerUrl = await app.listen({ host: config.host, port: config.workerPort });
  }
  connectProviders(
    services,
    config.publicUrl ?? (url || `http://${config.host}:${config.port}`),
    await callbackSecret(database),
  );

  let stopping: Promise<void> | null = null;
  return {
    url,
    services,
    app,
    generatedAdminKey,
    workerUrl,
    liveSummary: describeLiveProviders(live),
    stop() {
      stopping ??= (async () => {
        await app?.close();
        await jobs?.stop();
        await webhooks?.stop();
        await stream?.stop();
        await closeConnectors();
        await services.recorder.stop();
        await simulator?.close();
        await services.committer.close();
        await database.close();
      })();
      return stopping;
    },
  };
}
