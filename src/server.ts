import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { DestinationStream } from "pino";
import { analyticsJobs } from "./analytics/index.ts";
import { recordSystem } from "./audit/index.ts";
import { type AdminListener, startAdminListener } from "./backoffice/index.ts";
import { billingJobs } from "./billing/index.ts";
import { communityJobs } from "./community/index.ts";
import { closeConnectors, configureCarrierNetwork, setTestOtpCode } from "./connectors/operators/index.ts";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { openDatabase } from "./db/open.ts";
import { dayStartMs, maintainPartitions } from "./db/partitions.ts";
import { startWebhookWorker } from "./events/worker.ts";
import { buildApp } from "./http/app.ts";
import { deleteExpiredIdempotencyKeys } from "./idempotency/store.ts";
import { type Job, startJobs } from "./jobs/runner.ts";
import { buildOpsApp, registerOperationalGauges } from "./ops/index.ts";
import { payerJobs } from "./payers/index.ts";
import { ARCHIVE_BATCH_ROWS } from "./payments/interaction-archive.ts";
import { describeLiveProviders, liveProviders, liveStartProblem } from "./payments/live-mode.ts";
import { CarrierProvider } from "./payments/providers/carrier.ts";
import { expireHolds, reconcileDuePayments, reconcileDueRefunds } from "./payments/reconcile.ts";
import { DAY_MS } from "./platform/clock.ts";
import type { Config } from "./platform/config.ts";
import { createLogger } from "./platform/log.ts";
import { Metrics } from "./platform/metrics.ts";
import { reportUnexpectedTo } from "./platform/process-guards.ts";
import { ensureRiskPartitions } from "./risk/index.ts";
import { connectProviders, createServices, type Services } from "./services.ts";
import { type EmbeddedNetwork, findApiSimulator, startEmbeddedSimulator } from "./simulator/embedded.ts";
import { TEST_PIN } from "./simulator/index.ts";
import { JetStreamPublisher } from "./stream/index.ts";

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
      // Payments waiting for a payer's text need their operator's SMPP session open (a restart
      // closed it; an operator may drop it): opened again here.
      name: "mo_receivers",
      intervalMs: 30_000,
      run: async () => {
        const carrier = services.payments.providers.get("carrier");
        return carrier instanceof CarrierProvider ? carrier.listenForAwaitedTexts(services.db) : 0;
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
    {
      // Interaction bodies leave the primary for the compressed daily archive.
      name: "archive_interactions",
      intervalMs: 1_000,
      busyThreshold: ARCHIVE_BATCH_ROWS,
      run: () => services.payments.archive.archiveBatch(services.db),
    },
    {
      // Day partitions ahead, expired days dropped whole (src/db/partitions.ts).
      name: "maintain_partitions",
      intervalMs: 600_000,
      run: async () => {
        const nowMs = services.clock.nowMs();
        // Retention drops data: each drop is audited as the job, in the drop's transaction.
        const report = await maintainPartitions(
          services.db,
          nowMs,
          services.config.retentionDays,
          (tx, dropped) =>
            recordSystem(
              tx,
              "maintain_partitions",
              {
                action: "partitions.drop",
                object: dropped.partition,
                changes: { table: dropped.table, retention_days: dropped.retentionDays },
              },
              nowMs,
            ),
        );
        const keepDays = services.config.retentionDays.provider_interactions ?? 0;
        if (keepDays > 0)
          await services.payments.archive.removeDaysBefore(dayStartMs(nowMs) - keepDays * DAY_MS);
        if (report.kept.length > 0) {
          services.logger.warn(
            { kept: report.kept },
            "partitions past their retention kept: a reader has not consumed them yet",
          );
        }
        if (report.skipped.length > 0) {
          services.logger.warn(
            { skipped: report.skipped },
            "day partitions not created: the default partition has rows of those days",
          );
        }
        return report.created.length + report.dropped.length;
      },
    },
    ...billingJobs(services.billing, services.metrics),
    ...services.checkout.jobs(),
    ...communityJobs(services.community, services.clock),
    ...analyticsJobs(services),
    {
      // Day partitions of risk decisions and observations; old observations leave with theirs.
      name: "risk_partitions",
      intervalMs: 3_600_000,
      run: async () => (await ensureRiskPartitions(services.db, services.clock.nowMs())).created.length,
    },
    ...payerJobs(services.payers),
  ];
}

/**
 * Operators live where CENTIME_CARRIER_NETWORK_URL says; unset, an embedded carrier network
 * simulator serves every protocol on free local ports (its state kept in the database across
 * restarts), so carrier and card payments work with no set-up. A worker uses its API's simulator.
 */
async function connectCarrierNetwork(
  config: Config,
  role: Role,
  db: Db,
  sharedNetwork: boolean,
): Promise<EmbeddedNetwork | null> {
  if (config.carrierNetworkUrl) {
    configureCarrierNetwork({
      http_url: config.carrierNetworkUrl,
      ...(config.carrierSmpp
        ? { smpp_host: config.carrierSmpp.host, smpp_port: config.carrierSmpp.port }
        : {}),
    });
    return null;
  }
  const network =
    role === "worker" || sharedNetwork ? await findApiSimulator(db) : await startEmbeddedSimulator(db);
  configureCarrierNetwork(network.address);
  setTestOtpCode(TEST_PIN);
  return network;
}

/** `start --processes N`: the primary runs the embedded carrier network its processes share. */
export function startSharedCarrierNetwork(db: Db): Promise<EmbeddedNetwork> {
  return startEmbeddedSimulator(db);
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
  /** The admin listener (mutual TLS), when CENTIME_ADMIN_TLS_PORT is set. */
  adminUrl: string;
  /** Which live providers are ready, for the start banner. */
  liveSummary: string;
  stop(): Promise<void>;
}

export async function startServer(
  config: Config,
  role: Role = "all",
  db?: Db,
  /** A process of `start --processes N`: the embedded carrier network is its primary's. */
  options: { sharedNetwork?: boolean; logDestination?: DestinationStream } = {},
): Promise<RunningServer> {
  const logger = createLogger(config.logLevel, options.logDestination);
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
      preparedStatements: config.dbPreparedStatements,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      queryTimeoutMs: config.dbQueryTimeoutMs,
      onConnectionError: (error) => {
        metrics.databaseConnectionErrors.inc();
        logger.warn({ err: error }, "a database connection was lost; the pool opens another");
      },
      onPreparedStatementsOff: (error) =>
        logger.warn(
          { err: error },
          "the database connection refused a named prepared statement (a pooler in transaction mode?): statements are sent unnamed from now on; set CENTIME_DB_PREPARED_STATEMENTS=off to start that way",
        ),
    }));
  try {
    const applied = await migrate(database);
    if (applied.length > 0) logger.info({ migrations: applied }, "migrations applied");
  } catch (error) {
    await database.close();
    throw error;
  }
  // Lag-tolerant reads go to the replica when there is one (docs/scaling.md says which).
  const readDb = config.databaseReadUrl
    ? await openDatabase({
        databaseUrl: config.databaseReadUrl,
        dataDir: config.dataDir,
        poolSizeMax: Math.max(2, Math.ceil(config.dbPoolSize / 2)),
        preparedStatements: config.dbPreparedStatements,
        connectTimeoutMs: config.dbConnectTimeoutMs,
        queryTimeoutMs: config.dbQueryTimeoutMs,
      }).catch(async (error: unknown) => {
        await database.close();
        throw error;
      })
    : undefined;
  const services = createServices({ config, db: database, ...(readDb ? { readDb } : {}), logger, metrics });
  registerOperationalGauges(services);
  const generatedAdminKey = await services.merchants.initAdminKey();
  const simulator = await connectCarrierNetwork(config, role, database, options.sharedNetwork ?? false).catch(
    async (error: unknown) => {
      await database.close();
      throw error;
    },
  );
  services.recorder.start();
  // The change stream (CENTIME_NATS_URL): a worker publishes every event to NATS JetStream.
  const publisher =
    role !== "api" && config.natsUrl
      ? new JetStreamPublisher({ db: database, clock: services.clock, logger }, { url: config.natsUrl })
      : null;
  const jobs =
    role === "api"
      ? null
      : startJobs(
          [
            ...workerJobs(services),
            ...(publisher
              ? [
                  {
                    name: "nats_publish",
                    intervalMs: 500,
                    busyThreshold: 250, // half its batch of whole feed rows (analytics' job says why)
                    run: () => publisher.publishBatch(),
                  },
                ]
              : []),
          ],
          logger,
          metrics,
        );
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

  let app: FastifyInstance | null = null;
  let url = "";
  let workerUrl = "";
  let admin: AdminListener | null = null;
  if (role !== "worker") {
    app = await buildApp(services);
    url = await app.listen({ host: config.host, port: config.port });
    if (config.adminTlsPort !== undefined) {
      try {
        admin = await startAdminListener(app, {
          host: config.host,
          port: config.adminTlsPort,
          caDir: config.adminCaDir,
        });
      } catch (error) {
        await app.close();
        await database.close();
        throw new StartRefused(
          `the admin listener (CENTIME_ADMIN_TLS_PORT) could not start: ${(error as Error).message}`,
        );
      }
    }
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
    adminUrl: admin?.url ?? "",
    liveSummary: describeLiveProviders(live),
    stop() {
      stopping ??= (async () => {
        await admin?.close();
        await app?.close();
        await jobs?.stop();
        await publisher?.close();
        await webhooks?.stop();
        await closeConnectors();
        await services.recorder.stop();
        await simulator?.stop();
        await services.committer.close();
        await services.risk.close();
        await database.close();
        await readDb?.close();
      })();
      return stopping;
    },
  };
}
