import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

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
  readonly commitDuration = new Histogram({
    name: "centime_group_commit_duration_seconds",
    help: "Duration of one group-commit transaction.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
