import { type Billing, createBilling } from "./billing/index.ts";
import { GroupCommitter } from "./commit/group-commit.ts";
import { Customers } from "./customers/service.ts";
import type { Db } from "./db/db.ts";
import { IdempotencyGate } from "./idempotency/gate.ts";
import { Ledger } from "./ledger/ledger.ts";
import { Merchants } from "./merchants/service.ts";
import type { PaymentsContext } from "./payments/context.ts";
import type { PaymentProvider } from "./payments/provider.ts";
import { SandboxProvider } from "./payments/sandbox.ts";
import { type Clock, systemClock } from "./platform/clock.ts";
import type { Config } from "./platform/config.ts";
import { LIMITS } from "./platform/limits.ts";
import { createLogger, type Logger } from "./platform/log.ts";
import { Metrics } from "./platform/metrics.ts";

/** Everything the API and the workers share, wired once per process. */
export interface Services {
  config: Config;
  db: Db;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  ledger: Ledger;
  committer: GroupCommitter;
  merchants: Merchants;
  customers: Customers;
  idempotency: IdempotencyGate;
  payments: PaymentsContext;
  billing: Billing;
}

export function createServices(options: {
  config: Config;
  db: Db;
  clock?: Clock;
  logger?: Logger;
  metrics?: Metrics;
}): Services {
  const { config, db } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = options.metrics ?? new Metrics();
  const ledger = new Ledger(db);
  const committer = new GroupCommitter(
    db,
    ledger,
    { batchSizeMax: LIMITS.group_commit_batch_size_max, concurrencyMax: db.writeConcurrencyMax },
    metrics,
  );
  const providers = new Map<string, PaymentProvider>([
    ["sandbox", new SandboxProvider(config.sandboxAsyncDelayMs)],
  ]);
  return {
    config,
    db,
    clock,
    logger,
    metrics,
    ledger,
    committer,
    merchants: new Merchants(db, clock, config.adminKey),
    customers: new Customers(db, clock),
    idempotency: new IdempotencyGate(db, clock),
    payments: {
      db,
      ledger,
      committer,
      clock,
      metrics,
      providers,
      sandboxAsyncDelayMs: config.sandboxAsyncDelayMs,
      reconcileAfterMs: config.reconcileAfterMs,
    },
    billing: createBilling({ db, ledger, clock, logger }),
  };
}
