import { circuitStates } from "../connectors/operators/index.ts";
import type { Connector } from "../connectors/sdk/types.ts";
import { CardProvider } from "../payments/providers/card.ts";
import type { Services } from "../services.ts";

const BREAKER_STATES = ["closed", "half_open", "open"] as const;

/**
 * Gauges read at scrape time: what is waiting (reconciliation backlog and its oldest attempt,
 * attempts flagged for a person, the webhook queue and its lag) from the database, and each
 * operator's circuit breaker from this process. Each query reads a partial index only.
 */
export function registerOperationalGauges(services: Services): void {
  const { metrics, db, clock } = services;
  metrics.gauge(
    "centime_reconciliation_backlog",
    "Payments whose outcome is not known yet (processing), by provider.",
    ["provider"],
    async (set) => {
      const { rows } = await db.query<{ provider: string; n: bigint }>(
        "select provider, count(*) as n from payments where status = 'processing' group by provider",
      );
      const counts = new Map(services.payments.providers.types("payment").map((name) => [name, 0]));
      for (const row of rows) counts.set(row.provider, Number(row.n));
      for (const [provider, n] of counts) set({ provider }, n);
    },
  );
  metrics.gauge(
    "centime_reconciliation_oldest_unknown_seconds",
    "Age of the oldest payment attempt whose outcome is not known yet.",
    [],
    async (set) => {
      const { rows } = await db.query<{ oldest: Date | null }>(
        "select min(created) as oldest from payments where status = 'processing'",
      );
      const oldest = rows[0]?.oldest;
      set({}, oldest ? Math.max(0, (clock.nowMs() - new Date(oldest).getTime()) / 1000) : 0);
    },
  );
  metrics.gauge(
    "centime_reconciliation_unresolved",
    "Attempts the provider could not account for, waiting for a person (GET /v1/payments/unresolved).",
    [],
    async (set) => {
      const { rows } = await db.query<{ n: bigint }>(
        "select count(*) as n from payments where unresolved_since is not null and status in ('processing', 'requires_action')",
      );
      set({}, Number(rows[0]?.n ?? 0));
    },
  );
  metrics.gauge(
    "centime_webhook_queue_depth",
    "Webhook deliveries waiting to be sent (due now or scheduled for a retry).",
    [],
    async (set) => {
      const { rows } = await db.query<{ n: bigint }>(
        "select count(*) as n from webhook_deliveries where status = 'pending'",
      );
      set({}, Number(rows[0]?.n ?? 0));
    },
  );
  metrics.gauge(
    "centime_webhook_delivery_lag_seconds",
    "How long the most overdue pending webhook delivery has been due.",
    [],
    async (set) => {
      const { rows } = await db.query<{ due: Date | null }>(
        "select min(next_attempt_at) as due from webhook_deliveries where status = 'pending'",
      );
      const due = rows[0]?.due;
      set({}, due ? Math.max(0, (clock.nowMs() - new Date(due).getTime()) / 1000) : 0);
    },
  );
  metrics.gauge(
    "centime_circuit_breaker_state",
    "Circuit breaker of each provider connector in use: 1 for its current state (closed, half_open, open).",
    ["operator", "protocol", "state"],
    (set) => {
      const card = services.payments.providers.get("card");
      const others: Connector[] =
        card instanceof CardProvider && card.hasConnector() ? [card.connector()] : [];
      for (const breaker of circuitStates(others)) {
        for (const state of BREAKER_STATES) {
          set(
            { operator: breaker.operator, protocol: breaker.protocol, state },
            breaker.state === state ? 1 : 0,
          );
        }
      }
    },
  );
}
