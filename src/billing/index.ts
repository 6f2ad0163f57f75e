import type { Db } from "../db/db.ts";
import type { Job } from "../jobs/index.ts";
import type { Ledger } from "../ledger/index.ts";
import type { ProviderRegistry } from "../payments/index.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";
import type { Metrics } from "../platform/metrics.ts";
import type { RiskGate } from "../risk/index.ts";
import { Catalog } from "./catalog.ts";
import { processAdvancingClocks } from "./clocks.ts";
import { billingContext } from "./context.ts";
import { BILLING_BATCH_SIZE_MAX, type BillingContext, runBillingBatch } from "./scheduler.ts";

export type { SubscriptionStatus } from "./model.ts";
export type { BillingContext } from "./scheduler.ts";
// The back office's subscription screens act through the same functions as the API.
export { cancelSubscription, getSubscription, listSubscriptions, setPaused } from "./subscriptions.ts";

/** Billing as the rest of the process sees it: the scheduler's context and the catalog. */
export interface Billing {
  context: BillingContext;
  catalog: Catalog;
}

export function createBilling(options: {
  db: Db;
  ledger: Ledger;
  clock: Clock;
  logger?: Logger;
  /** The payments' provider registry: renewals charge through the same providers. */
  providers: ProviderRegistry;
  risk?: RiskGate;
}): Billing {
  const context = billingContext({
    db: options.db,
    ledger: options.ledger,
    clock: options.clock,
    providers: options.providers,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.risk ? { risk: options.risk } : {}),
  });
  return { context, catalog: new Catalog(options.db, options.clock) };
}

/** The worker's billing loops: due charges on real time, and test clocks. */
export function billingJobs(billing: Billing, metrics?: Metrics): Job[] {
  const ctx = billing.context;
  return [
    {
      name: "billing_charges",
      intervalMs: 1_000,
      busyThreshold: BILLING_BATCH_SIZE_MAX,
      run: async () => {
        const report = await runBillingBatch(ctx, { nowMs: ctx.clock.nowMs() });
        metrics?.renewals.inc({ result: "attempted" }, report.charged);
        metrics?.renewals.inc({ result: "succeeded" }, report.succeeded);
        metrics?.renewals.inc({ result: "deferred" }, report.deferred);
        return report.claimed;
      },
    },
    { name: "billing_test_clocks", intervalMs: 1_000, run: () => processAdvancingClocks(ctx) },
  ];
}
export { periodProblem, periodStartMs } from "./time.ts";
