/**
 * A soak: a day's shape compressed in time, on this machine. Two API processes
 * (`centime start --role api --processes 2`) and two workers (`--role worker`) over one PostgreSQL
 * cluster of the bench's own and a streaming standby of it (DATABASE_READ_URL), the carrier and
 * card simulators (instant) in this process, and an open-loop load at a steady rate then a peak
 * rate: carrier, card and sandbox payments, a few whose outcome is unknown at first
 * (reconciliation), partial refunds, checkout sessions paid by a payer through the hosted pages
 * (carrier, PIN), renewals of subscriptions on test clocks that move during the average phase
 * (a day compressed), and every event delivered to a local webhook receiver. Reports throughput,
 * p50/p99 per phase, lags at the end (webhooks, staged wire-log bodies, unsettled payments, the
 * replica), database growth and WAL per payment per table, every process's RSS at the start and
 * the end, the trial balance (debits == credits, posted and pending), the business auditor's
 * result per merchant (balances recomputed from the API's own objects) and the audit chain.
 *
 *   node --import tsx bench/soak.ts                                   # 600 s at 60/s, then 120 s at 180/s
 *   node --import tsx bench/soak.ts --rate 40 --duration 60 --peak-rate 120 --peak-duration 30
 *
 * The rates are what this shared 2-core machine sustains, not the 1,157/s of 100 M a day (see
 * docs/scaling.md). Exit code 1 when a correctness check fails (unbalanced books, a payment
 * answered 5xx, a webhook missing at the end); timings never fail it.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { listOperators } from "../src/connectors/operators/registry.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { auditMerchantBooks } from "../test/support/auditor.ts";
import { createMerchants } from "./load.ts";
import { freePort, newAdminKey, Platform, processTree, rssKb } from "./platform.ts";
import {
  advanceClock,
  cardNumber,
  payCheckoutByCarrier,
  payerAddress,
  type RenewalSet,
  subscribeOnClock,
} from "./soak-traffic.ts";
import { OwnCluster, tableSizes, walLsn } from "./storage.ts";

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main() {
  const { values } = parseArgs({
    options: {
      rate: { type: "string", default: "60" },
      duration: { type: "string", default: "600" },
      "peak-rate": { type: "string", default: "180" },
      "peak-duration": { type: "string", default: "120" },
      merchants: { type: "string", default: "20" },
      subscriptions: { type: "string", default: "1000" },
    },
  });
  const say = (line: string) => console.log(line);
  const phases = [
    { name: "average", rate: Number(values.rate), seconds: Number(values.duration) },
    { name: "peak", rate: Number(values["peak-rate"]), seconds: Number(values["peak-duration"]) },
  ];
  const cluster = await OwnCluster.create(["max_wal_size=4GB"]);
  const standby = await cluster.standby();
  const sim = await startSimulator({
    seed: 11,
    instant: true,
    httpPort: 0,
    smppPort: 0,
    dlr_duplicate_rate: 0,
    dlr_out_of_order_rate: 0,
  });
  const archiveDir = mkdtempSync(join(tmpdir(), "centime-soak-archive-"));
  const admin = new pg.Client({ connectionString: cluster.adminUrl });
  await admin.connect();
  const database = `centime_soak_${randomBytes(4).toString("hex")}`;
  await admin.query(`create database ${database}`);
  const url = new URL(cluster.adminUrl);
  url.pathname = `/${database}`;
  const received = new Map<string, number>();
  let duplicates = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const id = String(req.headers["webhook-id"] ?? "");
      if (received.has(id)) duplicates++;
      else received.set(id, Date.now());
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const receiverPort = (receiver.address() as { port: number }).port;
  const processes: Platform[] = [];
  const client = new pg.Client({ connectionString: url.toString() });
  let failed = false;
  try {
    const env = {
      CENTIME_CARRIER_NETWORK_URL: sim.httpUrl,
      CENTIME_CARRIER_SMPP: `127.0.0.1:${sim.smppPort}`,
      CENTIME_ARCHIVE_DIR: archiveDir,
      CENTIME_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1",
      CENTIME_RECONCILE_AFTER_MS: "1000",
      CENTIME_SESSION_SECRET: randomBytes(32).toString("base64url"),
      DATABASE_READ_URL: standby.url(database),
      // The pages' limit per client address stays on (its default): each payer comes from its own
      // address in 127.0.0.0/8 (payerAddress), as payers do on the internet.
    };
    const adminKey = newAdminKey();
    const { platform: api } = await Platform.start({
      databaseUrl: url.toString(),
      adminKey,
      env,
      args: ["start", "--role", "api", "--processes", "2"],
    });
    processes.push(api);
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const { platform: worker } = await Platform.start({
        databaseUrl: url.toString(),
        adminKey,
        port,
        env: { ...env, CENTIME_WORKER_PORT: String(port) },
        args: ["start", "--role", "worker"],
      });
      processes.push(worker);
    }
    await client.connect();
    const merchants = await createMerchants(api, Number(values.merchants), "Soak");
    for (const m of merchants) {
      const r = await api.request("POST", "/v1/webhook_endpoints", m.secretKey, {
        url: `http://127.0.0.1:${receiverPort}/hooks`,
        events: ["*"],
      });
      if (r.status >= 300) throw new Error(`webhook endpoint: ${r.status} ${JSON.stringify(r.json)}`);
    }
    // Subscriptions on one test clock per merchant: charged once now, renewed when the clock moves.
    const perMerchant = Math.floor(Number(values.subscriptions) / merchants.length);
    const renewalSets: RenewalSet[] = [];
    const setupStarted = Date.now();
    for (const [i, m] of merchants.entries())
      renewalSets.push(await subscribeOnClock(api, m.secretKey, perMerchant, `m${i}`));
    say(
      `set-up: ${renewalSets.length * perMerchant} subscriptions on ${renewalSets.length} test clocks in ${((Date.now() - setupStarted) / 1000).toFixed(0)} s`,
    );
    const pids = () => [api.pid, ...processTree(api.pid).slice(1), ...processes.slice(1).map((p) => p.pid)];
    const rssStart = new Map(pids().map((pid) => [pid, rssKb(pid)]));
    const sizesBefore = await tableSizes(client);
    const lsnBefore = await walLsn(client);
    const operators = listOperators({ country: "FR", protocol: "camara" }).map((o) => o.id);
    const run = randomBytes(4).toString("hex");
    let n = 0;
    let serverErrors = 0;
    let ok = 0;
    const checkouts = { started: 0, paid: 0, failed: 0, requests: 0, errors: new Map<string, number>() };
    const checkoutSessions: Array<{ id: string; key: string }> = [];
    const advances: Promise<void>[] = [];
    const inFlight = new Set<Promise<void>>();
    for (const phase of phases) {
      const latencies: number[] = [];
      let phaseOk = 0;
      let refused = 0;
      const codes: Record<string, number> = {};
      const started = performance.now();
      const total = Math.round(phase.rate * phase.seconds);
      // A day compressed: each merchant's clock moves on at its own moment of the average phase.
      if (phase.name === "average") {
        renewalSets.forEach((set, i) => {
          const at = ((i + 0.5) / renewalSets.length) * 0.8 * phase.seconds * 1000;
          advances.push(
            new Promise<void>((resolve) => setTimeout(resolve, at)).then(() =>
              advanceClock(api, merchants[i]!.secretKey, set).catch((error: unknown) => {
                say(`clock ${set.clock}: ${String(error)}`);
              }),
            ),
          );
        });
      }
      for (let i = 0; i < total; i++) {
        // Open loop: the i-th request leaves at its time, whatever the answers before it.
        const due = started + (i * 1000) / phase.rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const k = n++;
        const merchant = merchants[k % merchants.length]!;
        const kind = k % 20;
        if (kind === 18) {
          // A payer completes a checkout session through the hosted pages (Netherlands, PIN).
          checkouts.started++;
          const msisdn = `+3161${String(k % 100_000).padStart(5, "0")}98`;
          const t0 = performance.now();
          const p = payCheckoutByCarrier(
            api,
            sim.httpUrl,
            merchant.secretKey,
            msisdn,
            `${run}-${k}`,
            payerAddress(checkouts.started),
          )
            .then((done) => {
              latencies.push(performance.now() - t0);
              checkouts.requests += done.requests;
              checkoutSessions.push({ id: done.sessionId, key: merchant.secretKey });
            })
            .catch((error: unknown) => {
              checkouts.failed++;
              // Without the session id, so that the same failure counts once.
              const why = String(error instanceof Error ? error.message : error)
                .replace(/cs_[0-9a-z]+/g, "cs_…")
                .slice(0, 120);
              checkouts.errors.set(why, (checkouts.errors.get(why) ?? 0) + 1);
            });
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
          continue;
        }
        const body =
          kind < 9
            ? {
                amount: 199,
                currency: "EUR",
                payment_method: {
                  type: "carrier",
                  msisdn: `+3361${String(k % 100_000).padStart(5, "0")}99`,
                  operator: operators[k % operators.length],
                },
              }
            : kind === 19
              ? {
                  amount: 499,
                  currency: "EUR",
                  payment_method: { type: "sandbox", scenario: "timeout_then_approve" },
                }
              : kind < 14
                ? {
                    amount: 299,
                    currency: "EUR",
                    payment_method: {
                      type: "card",
                      number: cardNumber(k),
                      exp_month: 12,
                      exp_year: 2035,
                      cvc: "123",
                    },
                  }
                : { amount: 499, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } };
        const t0 = performance.now();
        const p = api
          .request("POST", "/v1/payments", merchant.secretKey, body, {
            "idempotency-key": `soak-${run}-${k}`,
          })
          .then(async (res) => {
            latencies.push(performance.now() - t0);
            if (res.status >= 500) serverErrors++;
            if (res.status >= 300) {
              refused++;
              codes[res.status] = (codes[res.status] ?? 0) + 1;
              return;
            }
            phaseOk++;
            ok++;
            const payment = res.json as { id: string; status: string };
            if (payment.status === "succeeded" && k % 20 === 3) {
              await api.request(
                "POST",
                "/v1/refunds",
                merchant.secretKey,
                { payment: payment.id, amount: 100 },
                {
                  "idempotency-key": `soak-refund-${run}-${k}`,
                },
              );
            }
          })
          .catch(() => {
            serverErrors++;
          });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
      await Promise.all(inFlight);
      await Promise.all(advances.splice(0));
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      say(
        `${phase.name.padEnd(8)} target ${phase.rate}/s for ${phase.seconds} s: ${(phaseOk / seconds).toFixed(1)} payments/s answered 2xx, ` +
          `p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, refused ${refused}` +
          `${
            refused
              ? ` (${Object.entries(codes)
                  .map(([c, k]) => `${c}×${k}`)
                  .join(" ")})`
              : ""
          }`,
      );
    }
    const endLoad = Date.now();
    say(`replica lag at the end of the load: ${await standby.lagBytes()} bytes of WAL`);
    // Lags at the end of the load, then let every queue drain (at most 120 s).
    const lags = async () => {
      const { rows } = await client.query<{
        webhooks: string;
        staged: string;
        processing: string;
        oldest: string | null;
      }>(
        `select (select count(*) from webhook_deliveries where status = 'pending')::text as webhooks,
                (select count(*) from provider_interaction_bodies)::text as staged,
                (select count(*) from payments where status = 'processing')::text as processing,
                (select extract(epoch from now() - min(created))::text from webhook_deliveries where status = 'pending') as oldest`,
      );
      return rows[0]!;
    };
    const atEnd = await lags();
    say(
      `at the end of the load: webhook deliveries pending ${atEnd.webhooks} (oldest ${Number(atEnd.oldest ?? 0).toFixed(1)} s), wire-log bodies staged ${atEnd.staged}, payments processing ${atEnd.processing}`,
    );
    let drained = atEnd;
    while (Date.now() - endLoad < 120_000) {
      drained = await lags();
      if (drained.webhooks === "0" && drained.staged === "0" && drained.processing === "0") break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    say(
      `drained in ${((Date.now() - endLoad) / 1000).toFixed(1)} s: webhooks pending ${drained.webhooks}, staged ${drained.staged}, processing ${drained.processing}`,
    );
    // Renewals: every subscription charged once at creation, then once when its clock moved.
    const { rows: renewalRows } = await client.query<{ charged: string; subs: string }>(
      `select count(*)::text as charged, count(distinct subscription_id)::text as subs from payments
       where subscription_id = any($1::text[]) and status = 'succeeded'`,
      [renewalSets.flatMap((r) => r.subscriptions)],
    );
    const { rows: subStates } = await client.query<{ status: string; n: string; periods: string }>(
      `select status, count(*)::text as n, sum(period_index)::text as periods from subscriptions
       where id = any($1::text[]) group by status`,
      [renewalSets.flatMap((r) => r.subscriptions)],
    );
    say(
      `subscriptions by status: ${subStates.map((r) => `${r.status} ${r.n} (periods ${r.periods})`).join(", ")}`,
    );
    const subscriptionsTotal = renewalSets.reduce((sum, r) => sum + r.subscriptions.length, 0);
    const renewed = Number(renewalRows[0]!.charged) - subscriptionsTotal;
    say(
      `renewals: ${renewed} charged of ${subscriptionsTotal} due (${renewalRows[0]!.charged} succeeded charges on ${renewalRows[0]!.subs} subscriptions, first periods included)`,
    );
    const { rows: mix } = await client.query<{ method: string; status: string; n: string }>(
      `select payment_method->>'type' as method, status, count(*)::text as n from payments group by 1, 2 order by 1, 2`,
    );
    say(`payments by method and status: ${mix.map((r) => `${r.method} ${r.status} ${r.n}`).join(", ")}`);
    let completed = 0;
    for (const s of checkoutSessions) {
      const r = await api.request("GET", `/v1/checkout_sessions/${s.id}`, s.key);
      if ((r.json as { status?: string }).status === "complete") completed++;
    }
    say(
      `checkout sessions: ${checkouts.started} opened by payers, ${completed} complete, ${checkouts.failed} failed on the way` +
        `${
          checkouts.errors.size
            ? ` (${[...checkouts.errors]
                .slice(0, 5)
                .map(([e, c]) => `${e} ×${c}`)
                .join("; ")}${checkouts.errors.size > 5 ? "; …" : ""})`
            : ""
        }, ${checkouts.requests} page requests`,
    );
    const { rows: eventCount } = await client.query<{ n: string }>("select count(*)::text as n from events");
    const missing = Number(eventCount[0]!.n) - received.size;
    say(
      `webhooks: ${received.size} received for ${eventCount[0]!.n} events, duplicates ${duplicates}, missing ${missing}`,
    );
    const lsnAfter = await walLsn(client);
    const sizesAfter = await tableSizes(client);
    const wal = Number(
      (await client.query<{ d: string }>("select pg_wal_lsn_diff($1, $2)::text as d", [lsnAfter, lsnBefore]))
        .rows[0]!.d,
    );
    const growth = [...sizesAfter]
      .map(([t, b]) => [t, Math.round((b - (sizesBefore.get(t) ?? 0)) / ok)] as const)
      .filter(([, b]) => b !== 0)
      .sort((a, b) => b[1] - a[1]);
    say(
      `database growth per payment: ${growth.map(([t, b]) => `${t} ${b}`).join(", ")}; total ${growth.reduce((s, [, b]) => s + b, 0)} B; WAL ${Math.round(wal / ok)} B`,
    );
    const rssEnd = new Map(pids().map((pid) => [pid, rssKb(pid)]));
    say(
      `RSS MB (start → end): ${[...rssEnd.keys()]
        .map(
          (pid) =>
            `${pid} ${((rssStart.get(pid) ?? 0) / 1024).toFixed(0)}→${((rssEnd.get(pid) ?? 0) / 1024).toFixed(0)}`,
        )
        .join(", ")}`,
    );
    const { rows: balance } = await client.query<{ dp: string; cp: string; dn: string; cn: string }>(
      `select sum(debits_posted)::text as dp, sum(credits_posted)::text as cp,
              sum(debits_pending)::text as dn, sum(credits_pending)::text as cn from ledger_balances`,
    );
    const b = balance[0]!;
    const balanced = b.dp === b.cp && b.dn === b.cn;
    say(
      `trial balance: posted ${b.dp} / ${b.cp}, pending ${b.dn} / ${b.cn}: ${balanced ? "balanced" : "UNBALANCED"}`,
    );
    say(`payments answered 2xx: ${ok}; 5xx or no answer: ${serverErrors}`);
    // The business auditor: each merchant's balances recomputed from its payments and refunds.
    let auditorProblems = 0;
    for (const m of merchants) {
      try {
        await auditMerchantBooks(async (path) => (await api.request("GET", path, m.secretKey)).json);
      } catch (error) {
        auditorProblems++;
        say(`auditor, ${m.id}: ${String(error instanceof Error ? error.message : error).slice(0, 300)}`);
      }
    }
    say(
      `business auditor: ${merchants.length - auditorProblems} of ${merchants.length} merchants' books agree with their objects`,
    );
    const chain = (await api.request("GET", "/v1/audit_events/verify", adminKey)).json as {
      valid?: boolean;
      checked?: number;
      first_broken?: unknown;
    };
    say(`audit chain: valid ${chain.valid}, ${chain.checked} records checked`);
    failed =
      !balanced ||
      serverErrors > 0 ||
      missing > 0 ||
      auditorProblems > 0 ||
      chain.valid !== true ||
      renewed < subscriptionsTotal;
  } finally {
    await client.end().catch(() => {});
    for (const p of processes.reverse()) await p.stop(20_000);
    await sim.close();
    receiver.close();
    await admin.query(`drop database if exists ${database} with (force)`).catch(() => {});
    await admin.end();
    cluster.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
