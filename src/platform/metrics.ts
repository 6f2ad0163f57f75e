import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The process's Prometheus metrics, served at /metrics. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: "centime_http_requests_total",
    help: "HTTP requests by route and status code.",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: "centime_http_request_duration_seconds",
    help: "HTTP request latency by route.",
    labelNames: ["method", "route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly payments = new Counter({
    name: "centime_payments_total",
    help: "Payments created, by status at creation.",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });
  readonly commitBatchSize = new Histogram({
    name: "centime_group_commit_batch_size",
    help: "Requests committed per database transaction by the group committer.",
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers: [this.registry],
  });
  readonly auditLaneMoved = new Counter({
    name: "centime_audit_lane_moved_total",
    help: "Group-commit batches run again because another writer moved their audit lane's head.",
    registers: [this.registry],
  });
  readonly commitOneStatementRefused = new Counter({
    name: "centime_group_commit_one_statement_refused_total",
    help: "Group-commit batches whose one statement refused itself (a key another writer holds) and ran again in a transaction.",
    registers: [this.registry],
  });
  readonly commitDuration = new Histogram({
    name: "centime_group_commit_duration_seconds",
    help: "Duration of one group-commit transaction.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  // What a payments on-call looks at (docs/operations.md lists each with what to do about it).
  readonly paymentOutcomes = new Counter({
    name: "centime_payment_outcomes_total",
    help: "Payments reaching a final status (succeeded, failed, canceled), by method, operator and currency.",
    labelNames: ["status", "method", "operator", "currency", "mode"] as const,
    registers: [this.registry],
  });
  readonly providerRequests = new Counter({
    name: "centime_provider_requests_total",
    help: "Exchanges with payment providers by provider, operator, operation and outcome (ok or an error class).",
    labelNames: ["provider", "operator", "operation", "outcome"] as const,
    registers: [this.registry],
  });
  readonly providerLatency = new Histogram({
    name: "centime_provider_latency_seconds",
    help: "Latency of exchanges with payment providers, by provider, operator and operation.",
    labelNames: ["provider", "operator", "operation"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly renewals = new Counter({
    name: "centime_renewals_total",
    help: "Subscription renewals by result: attempted (charged), succeeded, deferred.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly webhookAttempts = new Counter({
    name: "centime_webhook_attempts_total",
    help: "Webhook delivery attempts by endpoint and result (succeeded, failed, blocked).",
    labelNames: ["endpoint", "result"] as const,
    registers: [this.registry],
  });
  readonly jobRuns = new Counter({
    name: "centime_job_runs_total",
    help: "Background job runs by job and result (ok, failed).",
    labelNames: ["job", "result"] as const,
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: "centime_job_duration_seconds",
    help: "Duration of one background job run.",
    labelNames: ["job"] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly reconciliationUnresolved = new Counter({
    name: "centime_reconciliation_unresolved_total",
    help: "Attempts flagged for a person because the provider could not say what happened.",
    labelNames: ["provider"] as const,
    registers: [this.registry],
  });
  readonly requestDeadlineExpired = new Counter({
    name: "centime_request_deadline_expired_total",
    help: "API requests answered 503 because they did not finish within CENTIME_REQUEST_DEADLINE_MS.",
    registers: [this.registry],
  });
  readonly databaseConnectionErrors = new Counter({
    name: "centime_database_connection_errors_total",
    help: "PostgreSQL connections lost (the pool replaces them).",
    registers: [this.registry],
  });
  readonly unexpectedErrors = new Counter({
    name: "centime_unexpected_errors_total",
    help: "Unhandled rejections and uncaught exceptions, logged by the process-level handler.",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  /** A gauge read at scrape time (from the database or from in-process state). */
  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    read: (set: (labels: Partial<Record<L, string>>, value: number) => void) => Promise<void> | void,
  ): Gauge<L> {
    const gauge: Gauge<L> = new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        gauge.reset();
        await read((labels, value) => gauge.set(labels, value));
      },
    });
    return gauge;
  }

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    // Series that exist from the start, so a dashboard shows 0 rather than "no data".
    for (const result of ["attempted", "succeeded", "deferred"]) this.renewals.inc({ result }, 0);
    this.requestDeadlineExpired.inc(0);
    this.databaseConnectionErrors.inc(0);
  }
}
