/**
 * What a payments on-call scrapes, after a run of mixed payments on the whole platform (sandbox,
 * carrier through the simulator, a webhook endpoint that fails): final outcomes by method,
 * operator and currency; provider calls and latency per operator and operation; circuit-breaker
 * state; reconciliation backlog and oldest unknown attempt; renewals; webhook queue, lag and
 * failures per endpoint; job runs. A worker process serves /health, /ready and /metrics on its own
 * port.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { configFromEnv } from "../../src/platform/config.ts";
import { startServer } from "../../src/server.ts";
import { startSimulator } from "../../src/simulator/index.ts";
import { ADMIN_KEY } from "../support/app.ts";
import { openTestDatabase } from "../support/db.ts";
import { eventually, http, type LiveServer, startLiveServer } from "../support/server.ts";

let live: LiveServer;
let key: string;
let failing: Server;
let endpointId: string;

/** The sum of the series of `name` whose labels include `labels`; undefined when there is none. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const inside = line.match(/\{(.*)\}/)?.[1] ?? "";
    const have = Object.fromEntries([...inside.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v))
      sum = (sum ?? 0) + Number(line.split(" ").at(-1));
  }
  return sum;
}

before(async () => {
  failing = createServer((_req, res) => {
    res.statusCode = 500;
    res.end("no");
  });
  await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve));
  process.env.CENTIME_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
  live = await startLiveServer();
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Metrics studio",
  });
  key = merchant.body.secret_key;
  const endpoint = await http<{ id: string }>(live.url, "POST", "/v1/webhook_endpoints", key, {
    url: `http://127.0.0.1:${(failing.address() as AddressInfo).port}/hooks`,
    events: ["payment.succeeded"],
  });
  assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
  endpointId = endpoint.body.id;
});
after(async () => {
  delete process.env.CENTIME_WEBHOOK_ALLOWED_HOSTS;
  await live.close();
  failing.close();
});

test("after mixed payments, /metrics carries every series an on-call needs", async () => {
  const pay = (payment_method: Record<string, unknown>, currency = "EUR") =>
    http<{ status: string }>(live.url, "POST", "/v1/payments", key, {
      amount: 199,
      currency,
      payment_method,
    });
  const results = [
    await pay({ type: "sandbox", scenario: "approve" }),
    await pay({ type: "sandbox", scenario: "approve" }),
    await pay({ type: "sandbox", scenario: "decline_generic" }),
    await pay({ type: "carrier", msisdn: "+33612300000", operator: "20801" }),
    await pay({ type: "carrier", msisdn: "+33612300001", operator: "20801" }),
  ];
  assert.deepEqual(
    results.map((r) => r.body.status),
    ["succeeded", "succeeded", "failed", "succeeded", "failed"],
    JSON.stringify(results.map((r) => r.body)),
  );

  const scrape = async () => (await http<string>(live.url, "GET", "/metrics")).body as unknown as string;
  // Both come from background jobs: a scrape can come before either has run once (it did, about
  // one run in three, 220-360 ms after the start).
  const text = await eventually(async () => {
    const t = await scrape();
    const failures = metric(t, "centime_webhook_attempts_total", { endpoint: endpointId, result: "failed" });
    const reconciled = metric(t, "centime_job_runs_total", { job: "reconcile_payments", result: "ok" });
    return failures !== undefined && failures >= 1 && reconciled !== undefined ? t : undefined;
  }, 30_000);

  const outcome = (status: string, method: string, operator = "") =>
    metric(text, "centime_payment_outcomes_total", {
      status,
      method,
      operator,
      currency: "EUR",
      mode: "test",
    });
  assert.equal(outcome("succeeded", "sandbox"), 2);
  assert.equal(outcome("failed", "sandbox"), 1);
  assert.equal(outcome("succeeded", "carrier", "20801"), 1);
  assert.equal(outcome("failed", "carrier", "20801"), 1);

  const calls = metric(text, "centime_provider_requests_total", { provider: "carrier", operator: "20801" });
  assert.ok(calls !== undefined && calls >= 2, `provider calls: ${calls}`);
  const latency = metric(text, "centime_provider_latency_seconds_count", {
    provider: "carrier",
    operator: "20801",
  });
  assert.ok(latency !== undefined && latency >= 2, `latency observations: ${latency}`);
  assert.equal(metric(text, "centime_circuit_breaker_state", { operator: "20801", state: "closed" }), 1);
  assert.equal(metric(text, "centime_circuit_breaker_state", { operator: "20801", state: "open" }), 0);

  for (const name of [
    "centime_reconciliation_backlog",
    "centime_reconciliation_oldest_unknown_seconds",
    "centime_reconciliation_unresolved",
    "centime_webhook_queue_depth",
    "centime_webhook_delivery_lag_seconds",
    "centime_request_deadline_expired_total",
    "centime_database_connection_errors_total",
  ]) {
    assert.notEqual(metric(text, name), undefined, `${name} is present`);
  }
  assert.ok(
    (metric(text, "centime_webhook_queue_depth") ?? 0) >= 1,
    "the failing delivery waits for a retry",
  );
  for (const result of ["attempted", "succeeded", "deferred"]) {
    assert.notEqual(metric(text, "centime_renewals_total", { result }), undefined, `renewals ${result}`);
  }
  const runs = metric(text, "centime_job_runs_total", { job: "reconcile_payments", result: "ok" });
  assert.ok(runs !== undefined && runs >= 1, `job runs: ${runs}`);
});

test("a worker serves /health, /ready and /metrics on its own port, and no API", async () => {
  const database = await openTestDatabase();
  // A worker needs the carrier network its API uses: here one simulator for every process.
  const network = await startSimulator({ seed: 11, instant: true });
  const worker = await startServer(
    {
      ...configFromEnv({
        CENTIME_CARRIER_NETWORK_URL: network.httpUrl,
        CENTIME_CARRIER_SMPP: `127.0.0.1:${network.smppPort}`,
      }),
      adminKey: ADMIN_KEY,
      logLevel: "silent",
      port: 0,
      workerPort: 0,
    },
    "worker",
    database.db,
  );
  try {
    assert.equal(worker.url, "", "no API");
    assert.match(worker.workerUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await http<{ status: string; role: string }>(worker.workerUrl, "GET", "/health");
    assert.deepEqual([health.status, health.body.status, health.body.role], [200, "ok", "worker"]);
    const ready = await http<{ status: string }>(worker.workerUrl, "GET", "/ready");
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, "ready");
    const metrics = (await http<string>(worker.workerUrl, "GET", "/metrics")).body as unknown as string;
    assert.match(metrics, /^centime_job_runs_total|^# HELP centime_reconciliation_backlog/m);
    const api = await http(worker.workerUrl, "GET", "/v1/payments");
    assert.equal(api.status, 404, "the worker port is not the API");
  } finally {
    await worker.stop(); // closes the database's pool
    await network.close();
    await database.close(); // and drops the database
  }
});
