/**
 * Seeded simulation: 10,000 subscriptions over 90 days on a fake clock, across countries, time
 * zones (with DST changes in both hemispheres) and operators, with random balances and top-ups,
 * declines, hard declines, timeouts and STOPs. The scheduler runs through its own functions; an
 * independent auditor then checks, from the database and the simulated operators' records:
 * no charge outside a window, never two successful charges for one period, caps never exceeded,
 * operator TPS never exceeded, debts and partial payments add up, the ledger balances, and our
 * payments match what the operators charged. Each path is asserted to have happened, with what it
 * did to the money: debt collection (and a declined one), write-off, skipped charge, cap deferral,
 * three wrong PINs (consent_failed), pause and resume, late-period deferral, the annual reminder.
 * Last, the independent auditor (test/support/auditor.ts) reads every payment and refund through
 * the API and compares the merchant's balances with the ledger.
 *
 * BILLING_SIM_SEED replays a seed; BILLING_SIM_SUBSCRIPTIONS and BILLING_SIM_DAYS scale it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { debtAccounts } from "../../src/billing/engine.ts";
import { type SubscriptionRow, unchargedSchedule } from "../../src/billing/model.ts";
import { DEFAULT_DUNNING_POLICY } from "../../src/billing/policy.ts";
import { type ResolvedRules, rulesFor } from "../../src/billing/rules.ts";
import { type BillingContext, runDueBilling } from "../../src/billing/scheduler.ts";
import { insertInto } from "../../src/billing/sql.ts";
import { cancelSubscription, confirmSubscription, setPaused } from "../../src/billing/subscriptions.ts";
import { listOperators } from "../../src/connectors/operators/index.ts";
import { accountId } from "../../src/ledger/accounts.ts";
import { paymentAccounts } from "../../src/payments/transitions.ts";
import { newId } from "../../src/platform/ids.ts";
import type { AuthScope } from "../../src/platform/scope.ts";
import { call, createMerchant, createTestApp, FakeClock, type TestApp } from "../support/app.ts";
import { auditMerchantBooks } from "../support/auditor.ts";
import { printProfile, profiled } from "./sim/profile.ts";
import { between, pick, rng, SimulatedNetwork } from "./sim/world.ts";

const SEED = Number(process.env.BILLING_SIM_SEED ?? 20260301);
const SUBSCRIPTIONS = Number(process.env.BILLING_SIM_SUBSCRIPTIONS ?? 10_000);
const DAYS = Number(process.env.BILLING_SIM_DAYS ?? 90);
const START_MS = Date.parse("2026-03-01T00:00:00Z");
const STEP_MS = 60 * 60_000;
const DAY_MS = 86_400_000;

/** Countries with DST in both hemispheres, fractional offsets, and none at all. */
const COUNTRIES = [
  "FR",
  "DE",
  "IT",
  "ES",
  "NL",
  "GB",
  "PL",
  "HU",
  "US",
  "CA",
  "MX",
  "BR",
  "CL",
  "EG",
  "MA",
  "NG",
  "KE",
  "ZA",
  "GH",
  "SA",
  "AE",
  "JO",
  "TR",
  "IN",
  "NP",
  "PK",
  "BD",
  "ID",
  "PH",
  "AU",
  "NZ",
] as const;

const CURRENCY: Record<string, string> = {
  FR: "EUR",
  DE: "EUR",
  IT: "EUR",
  ES: "EUR",
  NL: "EUR",
  GB: "GBP",
  PL: "EUR",
  HU: "EUR",
  US: "USD",
  CA: "CAD",
  MX: "MXN",
  BR: "BRL",
  CL: "CLP",
  EG: "EGP",
  MA: "MAD",
  NG: "NGN",
  KE: "KES",
  ZA: "ZAR",
  GH: "GHS",
  SA: "SAR",
  AE: "AED",
  JO: "JOD",
  TR: "TRY",
  IN: "INR",
  NP: "NPR",
  PK: "PKR",
  BD: "BDT",
  ID: "IDR",
  PH: "PHP",
  AU: "AUD",
  NZ: "NZD",
};

const clock = new FakeClock(START_MS);
let t: TestApp;

before(async () => {
  t = await createTestApp({ clock });
});
after(() => t.close());

interface World {
  ctx: BillingContext;
  /** The merchant's secret key: the independent auditor reads the books through the API. */
  secretKey: string;
  network: SimulatedNetwork;
  scope: AuthScope;
  stops: { id: string; atMs: number }[];
  /** Subscriptions paused for a while (POST …/pause, then …/resume). */
  pauses: { id: string; fromMs: number; untilMs: number }[];
  /** Subscriptions waiting for the PIN that three wrong PINs cancel. */
  pinFailures: string[];
  /** The operator whose dunning policy moves a late-paid period (deferral). */
  deferralOperator: string;
  tps: Map<string, number>;
}

const YEAR_MS = 366 * 86_400_000;
const PIN_FAILURES = 5;

async function build(): Promise<World> {
  const random = rng(SEED);
  const merchant = await createMerchant(t.app, "Simulation studio");
  const scope: AuthScope = { merchantId: merchant.merchantId, mode: "test" };
  const nowMs = START_MS;

  // Operators: up to three real ones per country from the registry, with small TPS limits so
  // the spreading is exercised; about half of them answer balance checks.
  const operatorsByCountry = new Map<string, string[]>();
  const tps = new Map<string, number>();
  const balanceOperators = new Set<string>();
  for (const country of COUNTRIES) {
    const ops = listOperators({ country })
      .slice(0, 3)
      .map((o) => o.id);
    operatorsByCountry.set(country, ops.length > 0 ? ops : [`${country}-sim`]);
    for (const op of operatorsByCountry.get(country)!) {
      tps.set(op, between(random, 3, 30));
      if (random() < 0.5) balanceOperators.add(op);
    }
  }
  const network = new SimulatedNetwork(SEED, balanceOperators, clock);
  const rules = (country: string | null, operator: string | null): ResolvedRules => {
    const base = rulesFor(country, operator);
    return { ...base, tps_max: (operator && tps.get(operator)) || base.tps_max };
  };
  const ctx: BillingContext = {
    ...t.services.billing.context,
    ...(process.env.BILLING_SIM_PROFILE ? { db: profiled(t.services.db) } : {}),
    providers: t.services.payments.providers.with(network),
    rules,
  };

  // Catalog and accounts.
  const productId = newId("prod", nowMs);
  await insertInto(t.services.db, "products", [
    {
      id: productId,
      merchant_id: scope.merchantId,
      mode: "test",
      name: "Sim content",
      description: null,
      parent_id: null,
      active: true,
      metadata: {},
      created: new Date(nowMs),
      updated: new Date(nowMs),
    },
  ]);
  const currencies = [...new Set(Object.values(CURRENCY))];
  for (const currency of currencies) {
    const accounts = paymentAccounts({
      merchant_id: scope.merchantId,
      mode: "test",
      provider: "sandbox",
      currency,
    });
    const debt = debtAccounts({ merchant_id: scope.merchantId, mode: "test", currency });
    await t.services.ledger.ensureAccounts(
      [accounts.clearing, accounts.available, debt.debt, debt.unbilled],
      nowMs,
    );
  }

  const customers: Record<string, unknown>[] = [];
  const prices = new Map<string, Record<string, unknown>>();
  const subs: SubscriptionRow[] = [];
  const stops: { id: string; atMs: number }[] = [];
  const pauses: { id: string; fromMs: number; untilMs: number }[] = [];
  const pinFailures: string[] = [];
  const priceFor = (currency: string, amount: number, period: string, trial: number) => {
    const key = `${currency}/${amount}/${period}/${trial}`;
    let row = prices.get(key);
    if (!row) {
      row = {
        id: newId("price", nowMs),
        merchant_id: scope.merchantId,
        mode: "test",
        product_id: productId,
        amount,
        currency,
        country: null,
        recurring_period: period,
        trial_days: trial,
        active: true,
        metadata: {},
        created: new Date(nowMs),
      };
      prices.set(key, row);
    }
    return row;
  };

  while (subs.length < SUBSCRIPTIONS) {
    const country = pick(random, COUNTRIES);
    const currency = CURRENCY[country]!;
    const operator = pick(random, operatorsByCountry.get(country)!);
    const r = rules(country, operator);
    // Heavy EU subscribers hold many pricey weekly subscriptions, so the 300 EUR month cap binds.
    const heavy = currency === "EUR" && random() < 0.05;
    const customerId = newId("cus", nowMs);
    const msisdn = `+1555${String(customers.length).padStart(7, "0")}`;
    customers.push({
      id: customerId,
      merchant_id: scope.merchantId,
      mode: "test",
      external_id: null,
      email: null,
      msisdn: null,
      country,
      time_zone: r.time_zone,
      locale: null,
      metadata: {},
      created: new Date(nowMs),
      test_clock_id: null,
    });
    const poor = random() < 0.25;
    network.subscribers.set(msisdn, {
      balance: BigInt(poor ? between(random, 0, 300) : between(random, 500, 20_000)),
      topUp: BigInt(between(random, 100, 3_000)),
      topUpChance: poor ? 0.1 : 0.4,
      declineChance: 0.03,
      timeoutChance: 0.02,
      hardDeclineChance: 0.002,
    });
    if (heavy) network.subscribers.get(msisdn)!.balance = 1_000_000n;
    const count = heavy ? between(random, 6, 9) : between(random, 1, 2);
    for (let i = 0; i < count && subs.length < SUBSCRIPTIONS; i++) {
      const roll = random();
      const period = heavy ? "P1W" : roll < 0.015 ? "P1D" : roll < 0.12 ? "P1W" : roll < 0.22 ? "P2W" : "P1M";
      const scale = period === "P1D" ? 1 : period === "P1M" ? 20 : 6;
      const amount = heavy ? between(random, 4_000, 4_900) : between(random, 10, 150) * scale;
      const trial = random() < 0.1 ? between(random, 1, 7) : 0;
      const price = priceFor(currency, amount, period, trial);
      const createdMs = nowMs + Math.floor(random() * 3 * DAY_MS);
      const anchorMs = trial > 0 ? createdMs + trial * DAY_MS : createdMs;
      const sub: SubscriptionRow = {
        id: newId("sub", nowMs),
        merchant_id: scope.merchantId,
        mode: "test",
        customer_id: customerId,
        price_id: price.id as string,
        product_id: productId,
        status: trial > 0 ? "trialing" : "active",
        amount: BigInt(amount),
        currency,
        period,
        country,
        operator,
        time_zone: r.time_zone,
        payment_method: { type: "sandbox", scenario: "approve", operator, msisdn },
        consent: { method: "web", recorded_at: new Date(createdMs).toISOString() },
        next_action: null,
        ...unchargedSchedule(new Date(anchorMs)),
        trial_end: trial > 0 ? new Date(anchorMs) : null,
        test_clock_id: null,
        metadata: {},
        // UK subscribers signed up over a year ago: their next charge comes with the annual reminder.
        created: new Date(country === "GB" ? createdMs - YEAR_MS : createdMs),
        updated: new Date(createdMs),
      };
      subs.push(sub);
      if (pinFailures.length < PIN_FAILURES && trial === 0 && !heavy) {
        // Waits for its double opt-in PIN: no job until confirmed.
        sub.status = "incomplete";
        sub.next_action = { type: "enter_pin", enter_pin: { attempts_remaining: 3, pin_length: 4 } };
        pinFailures.push(sub.id);
        continue;
      }
      if (random() < 0.01) {
        const fromMs = createdMs + Math.floor(random() * 20 * DAY_MS);
        pauses.push({ id: sub.id, fromMs, untilMs: fromMs + between(random, 5, 15) * DAY_MS });
      }
      if (random() < 0.03) stops.push({ id: sub.id, atMs: createdMs + Math.floor(random() * DAYS * DAY_MS) });
    }
  }
  const db = t.services.db;
  // One operator's contract moves a late-paid period to start when paid (deferral).
  const deferralOperator = operatorsByCountry.get("DE")![0]!;
  await db.query(
    `insert into dunning_policies (id, merchant_id, mode, operator, policy, created, updated)
     values ($1, $2, 'test', $3, $4, $5, $5)`,
    [
      newId("dpol", nowMs),
      scope.merchantId,
      deferralOperator,
      { defer_period_on_late_payment: true },
      new Date(nowMs),
    ],
  );
  for (let i = 0; i < customers.length; i += 2000) {
    await db.query("insert into customers select * from json_populate_recordset(null::customers, $1::json)", [
      JSON.stringify(customers.slice(i, i + 2000)),
    ]);
  }
  await insertInto(db, "prices", [...prices.values()]);
  for (let i = 0; i < subs.length; i += 2000) {
    const chunk = subs.slice(i, i + 2000);
    await insertInto(db, "subscriptions", chunk);
    await insertInto(
      db,
      "billing_jobs",
      chunk
        .filter((s) => s.next_action === null)
        .map((s) => ({
          subscription_id: s.id,
          merchant_id: s.merchant_id,
          mode: s.mode,
          clock_key: "",
          run_at: s.anchor,
          pending_payment_id: null,
          attempts: 0,
          created: s.created,
        })),
    );
  }
  stops.sort((a, b) => a.atMs - b.atMs);
  return {
    ctx,
    secretKey: merchant.secretKey,
    network,
    scope,
    stops,
    pauses,
    pinFailures,
    deferralOperator,
    tps,
  };
}

const timing = { steps: 0, batches: 0, claimed: 0, billingMs: 0, deferredBy: {} as Record<string, number> };

const flows = { pinAnswers: [] as number[], paused: new Set<string>(), resumed: new Set<string>() };

async function run(world: World): Promise<void> {
  const endMs = START_MS + DAYS * DAY_MS;
  let stopIndex = 0;
  let nextDue = START_MS;
  // Three wrong PINs in a row for the subscriptions waiting for their double opt-in.
  for (const id of world.pinFailures) {
    for (let i = 0; i < 3; i++) {
      const r = await confirmSubscription(world.ctx, world.scope, id, { pin: "0000" }, undefined);
      flows.pinAnswers.push(r.statusCode);
    }
  }
  while (clock.nowMs() < endMs) {
    const nowMs = clock.nowMs();
    for (const pause of world.pauses) {
      const act = async (paused: boolean, done: Set<string>) => {
        try {
          await setPaused(world.ctx, world.scope, pause.id, paused, undefined);
          done.add(pause.id);
        } catch {
          // Canceled by dunning or a STOP meanwhile: a pause then does nothing.
        }
      };
      if (pause.fromMs <= nowMs && !flows.paused.has(pause.id) && pause.fromMs > 0) {
        pause.fromMs = 0;
        await act(true, flows.paused);
      }
      if (pause.untilMs <= nowMs && flows.paused.has(pause.id) && !flows.resumed.has(pause.id))
        await act(false, flows.resumed);
    }
    while (stopIndex < world.stops.length && world.stops[stopIndex]!.atMs <= nowMs) {
      const stop = world.stops[stopIndex++]!;
      try {
        await cancelSubscription(world.ctx, world.scope, stop.id, "mo_stop", undefined);
      } catch {
        // Already canceled by dunning: a STOP then does nothing.
      }
    }
    if (nextDue <= nowMs) {
      const t0 = performance.now();
      const r = await runDueBilling(world.ctx, { nowMs });
      timing.billingMs += performance.now() - t0;
      timing.batches++;
      timing.claimed += r.claimed;
      for (const [reason, n] of Object.entries(r.deferredBy))
        timing.deferredBy[reason] = (timing.deferredBy[reason] ?? 0) + n;
    }
    const { rows } = await t.services.db.query<{ next: Date | null }>(
      "select min(run_at) as next from billing_jobs where clock_key = ''",
    );
    nextDue = rows[0]?.next?.getTime() ?? endMs;
    timing.steps++;
    const nextStop = world.stops[stopIndex]?.atMs ?? endMs;
    // Step at most STEP_MS, but jump straight to the next due job or STOP when nothing happens before.
    let next = Math.min(nowMs + STEP_MS, endMs);
    if (nextDue > next && nextStop > next) next = Math.min(nextDue, nextStop, endMs);
    clock.set(Math.max(next, nowMs + 1000));
  }
}

// ---------------------------------------------------------------------------------------------
// The auditor: recomputes local times with Intl (not the scheduler's Temporal code), and
// checks every invariant from rows alone.

const formatters = new Map<string, Intl.DateTimeFormat>();
function local(timeZone: string, atMs: number): { day: string; month: string; minute: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(atMs)).map((p) => [p.type, p.value]));
  return {
    day: `${parts.year}-${parts.month}-${parts.day}`,
    month: `${parts.year}-${parts.month}`,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

const hhmm = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));

interface AuditPayment {
  id: string;
  status: string;
  amount: bigint;
  currency: string;
  attempt_id: string;
  subscription_id: string;
  billing_period: number | null;
  customer_id: string;
  created: Date;
}

test(`simulation: ${SUBSCRIPTIONS} subscriptions over ${DAYS} days (seed ${SEED})`, async () => {
  const t0 = performance.now();
  const world = await build();
  const t1 = performance.now();
  await run(world);
  if (process.env.BILLING_SIM_PROFILE) printProfile(console.log);
  console.log(
    `built in ${Math.round(t1 - t0)} ms, ran in ${Math.round(performance.now() - t1)} ms: ${JSON.stringify(timing)}`,
  );
  const db = t.services.db;

  const { rows: subs } = await db.query<SubscriptionRow>("select * from subscriptions");
  const subById = new Map(subs.map((s) => [s.id, s]));
  const { rows: payments } = await db.query<AuditPayment>(
    `select id, status, amount, currency, attempt_id, subscription_id, billing_period, customer_id, created
     from payments where subscription_id is not null order by created, id`,
  );
  assert.ok(payments.length > SUBSCRIPTIONS, `${payments.length} charge attempts`);
  const succeeded = payments.filter((p) => p.status === "succeeded");

  // 1. Every attempt inside its subscriber's local window.
  for (const p of payments) {
    const sub = subById.get(p.subscription_id)!;
    const r = world.ctx.rules!(sub.country, sub.operator);
    const at = local(sub.time_zone, p.created.getTime());
    assert.ok(
      at.minute >= hhmm(r.window.start) && at.minute < hhmm(r.window.end),
      `${p.id} at ${p.created.toISOString()} is ${Math.floor(at.minute / 60)}:${at.minute % 60} in ${sub.time_zone}`,
    );
  }

  // 2. Exactly one success per paid period, periods paid in order without gaps.
  const paid = new Map<string, number[]>();
  for (const p of succeeded) {
    if (p.billing_period === null) continue;
    const list = paid.get(p.subscription_id) ?? [];
    list.push(p.billing_period);
    paid.set(p.subscription_id, list);
  }
  for (const [id, periods] of paid) {
    const sorted = [...periods].sort((a, b) => a - b);
    assert.deepEqual(
      sorted,
      sorted.map((_, i) => i),
      `${id} paid periods ${sorted.join(",")}`,
    );
    assert.equal(subById.get(id)!.period_index, sorted.length, `${id} period index`);
  }

  // 3. Caps: per transaction, and per subscriber per local day and month, in the caps' currency.
  const spent = new Map<string, bigint>();
  let cappedCharges = 0;
  for (const p of payments) {
    if (p.status !== "succeeded" && p.status !== "processing") continue;
    const sub = subById.get(p.subscription_id)!;
    const caps = world.ctx.rules!(sub.country, sub.operator).caps;
    if (!caps || caps.currency !== p.currency) continue;
    cappedCharges++;
    if (caps.transaction_max !== undefined)
      assert.ok(p.amount <= caps.transaction_max, `${p.id} over the transaction cap`);
    const at = local(sub.time_zone, p.created.getTime());
    for (const [key, max] of [
      [`${p.customer_id}/D${at.day}`, caps.day_max],
      [`${p.customer_id}/M${at.month}`, caps.month_max],
    ] as const) {
      const total = (spent.get(key) ?? 0n) + p.amount;
      spent.set(key, total);
      if (max !== undefined) assert.ok(total <= max, `${key} spent ${total} > ${max}`);
    }
  }
  assert.ok(cappedCharges > 0, "some charges were under caps");

  // 4. TPS: attempts per operator per second.
  const perSecond = new Map<string, number>();
  for (const p of payments) {
    const sub = subById.get(p.subscription_id)!;
    const key = `${sub.operator}/${Math.floor(p.created.getTime() / 1000)}`;
    const n = (perSecond.get(key) ?? 0) + 1;
    perSecond.set(key, n);
    assert.ok(n <= world.tps.get(sub.operator!)!, `${key}: ${n} charges`);
  }

  // 5. Our payments match the operators' records: charged exactly when succeeded, same amount.
  const byAttempt = new Map(payments.map((p) => [p.attempt_id, p]));
  assert.equal(world.network.records.size, payments.length, "one operator request per attempt");
  for (const record of world.network.records.values()) {
    const p = byAttempt.get(record.attempt_id);
    assert.ok(p, `operator attempt ${record.attempt_id} has a payment`);
    if (p.status === "processing") continue;
    assert.equal(
      p.status === "succeeded",
      record.charged,
      `${p.id} ${p.status} vs operator charged=${record.charged}`,
    );
    if (record.charged) assert.equal(p.amount, record.amount);
  }

  // 6. Debts and partial payments add up, per subscription and on the ledger.
  const { rows: transfers } = await db.query<{
    code: string;
    amount: bigint;
    reference: string;
    currency: string;
  }>("select code, amount, reference, currency from ledger_transfers where code like 'debt_%'");
  const debtOf = new Map<string, bigint>();
  const paymentById = new Map(payments.map((p) => [p.id, p]));
  let partials = 0;
  for (const tr of transfers) {
    const p = paymentById.get(tr.reference);
    const subId = p ? p.subscription_id : tr.reference;
    const sub = subById.get(subId)!;
    if (tr.code === "debt_recorded") {
      partials++;
      assert.ok(
        p && p.status === "succeeded" && p.billing_period !== null,
        `debt from a paid period: ${tr.reference}`,
      );
      assert.equal(tr.amount, sub.amount - p.amount, `${p.id}: the remainder is the debt`);
    }
    const sign = tr.code === "debt_recorded" ? 1n : -1n;
    debtOf.set(subId, (debtOf.get(subId) ?? 0n) + sign * tr.amount);
  }
  assert.ok(partials > 0, "some periods were paid in part");
  let totalDebt = new Map<string, bigint>();
  for (const sub of subs) {
    assert.equal(sub.debt, debtOf.get(sub.id) ?? 0n, `${sub.id} debt`);
    if (sub.status === "canceled") assert.equal(sub.debt, 0n, `${sub.id} canceled with debt`);
    totalDebt.set(sub.currency, (totalDebt.get(sub.currency) ?? 0n) + sub.debt);
  }
  const { rows: balances } = await db.query<{ account_id: string; debits: bigint; credits: bigint }>(
    `select account_id, sum(debits_posted)::bigint as debits, sum(credits_posted)::bigint as credits
     from ledger_balances group by account_id`,
  );
  const balanceOf = new Map(balances.map((b) => [b.account_id, b]));
  for (const [currency, debt] of totalDebt) {
    const id = accountId(debtAccounts({ merchant_id: world.scope.merchantId, mode: "test", currency }).debt);
    const b = balanceOf.get(id);
    assert.equal((b?.debits ?? 0n) - (b?.credits ?? 0n), debt, `${currency} debt account`);
  }
  totalDebt = new Map();

  // 7. The ledger balances per currency, and merchants' available money is what succeeded.
  const { rows: trial } = await db.query<{ currency: string; debits: bigint; credits: bigint }>(
    `select a.currency, sum(b.debits_posted)::bigint as debits, sum(b.credits_posted)::bigint as credits
     from ledger_balances b join ledger_accounts a on a.id = b.account_id group by a.currency`,
  );
  for (const row of trial) assert.equal(row.debits, row.credits, `${row.currency} trial balance`);
  const captured = new Map<string, bigint>();
  for (const p of succeeded) captured.set(p.currency, (captured.get(p.currency) ?? 0n) + p.amount);
  for (const [currency, amount] of captured) {
    const id = accountId(
      paymentAccounts({ merchant_id: world.scope.merchantId, mode: "test", provider: "sandbox", currency })
        .available,
    );
    const b = balanceOf.get(id)!;
    assert.equal(b.credits - b.debits, amount, `${currency} available`);
  }

  // 8. Nothing charged after a cancel; dunning reached its ends; minimum interval between charges.
  const lastCharge = new Map<string, number>();
  for (const p of payments) {
    const sub = subById.get(p.subscription_id)!;
    if (sub.canceled_at) assert.ok(p.created <= sub.canceled_at, `${p.id} after cancel`);
    const previous = lastCharge.get(sub.id);
    if (previous !== undefined) {
      const gap = p.created.getTime() - previous;
      const minGap = world.ctx.rules!(sub.country, sub.operator).min_interval_minutes * 60_000;
      assert.ok(gap >= minGap, `${p.id} ${gap / 60_000} min after the previous charge`);
    }
    if (p.status === "succeeded") lastCharge.set(sub.id, p.created.getTime());
  }
  const statuses = new Map<string, number>();
  for (const sub of subs) statuses.set(sub.status, (statuses.get(sub.status) ?? 0) + 1);
  const reasons = new Set(subs.map((s) => s.cancel_reason));
  for (const reason of ["mo_stop", "hard_decline", "retries_exhausted"])
    assert.ok(reasons.has(reason), reason);
  assert.ok((statuses.get("active") ?? 0) > SUBSCRIPTIONS / 2, "most subscriptions stay active");
  assert.ok(world.network.balanceChecks > 0, "balance checks ran");
  assert.equal(DEFAULT_DUNNING_POLICY.final_action, "cancel");

  const attempted = new Set(payments.map((p) => p.subscription_id));
  // 9. Every path happened, and did what it should to the money.
  const { rows: events } = await db.query<{ type: string; object_id: string; created: Date }>(
    "select type, object_id, created from events where type like 'subscription.%'",
  );
  const eventsOf = (type: string) => events.filter((e) => e.type === type);
  const transfersOf = (code: string) => transfers.filter((tr) => tr.code === code);
  const { rows: captures } = await db.query<{ reference: string; amount: bigint }>(
    "select reference, amount from ledger_transfers where code = 'payment_capture'",
  );
  const capturedBy = new Map(captures.map((c) => [c.reference, c.amount]));
  const debtPayments = payments.filter((p) => p.billing_period === null);

  // Debt collection: each collected debt is a succeeded payment whose whole amount left the debt.
  const collected = transfersOf("debt_collected");
  assert.ok(collected.length > 0, "debt was collected");
  for (const tr of collected) {
    const p = paymentById.get(tr.reference);
    assert.ok(p && p.status === "succeeded" && p.billing_period === null, `${tr.reference} collects debt`);
    assert.equal(tr.amount, p.amount, `${p.id}: the collected amount is the payment`);
    assert.equal(capturedBy.get(p.id), p.amount, `${p.id}: the money reached the merchant`);
  }
  assert.equal(collected.length, debtPayments.filter((p) => p.status === "succeeded").length);
  assert.equal(eventsOf("subscription.debt_collected").length, collected.length);
  // A declined debt collection moves nothing and leaves the debt as it was.
  const declinedDebt = debtPayments.filter((p) => p.status === "failed");
  assert.ok(declinedDebt.length > 0, "some debt collections were declined");
  for (const p of declinedDebt) assert.equal(capturedBy.get(p.id), undefined, `${p.id} moved money`);

  // Write-offs: debt leaves the books without money, on cancel or after debt_write_off_days.
  const writtenOff = transfersOf("debt_written_off");
  assert.ok(writtenOff.length > 0, "debt was written off");
  for (const tr of writtenOff) {
    assert.ok(subById.has(tr.reference), `a write-off names its subscription: ${tr.reference}`);
    assert.equal(capturedBy.get(tr.reference), undefined);
  }
  assert.equal(eventsOf("subscription.debt_written_off").length, writtenOff.length);

  // Skipped charges: the balance check saw too little; nothing reached the operator.
  const skipped = eventsOf("subscription.charge_skipped");
  assert.ok(skipped.length > 0, "balance checks skipped doomed charges");
  const attemptsAt = new Set(payments.map((p) => `${p.subscription_id}@${p.created.getTime()}`));
  for (const e of skipped)
    assert.ok(
      !attemptsAt.has(`${e.object_id}@${e.created.getTime()}`),
      `${e.object_id} was charged when skipped`,
    );

  // Cap deferrals happened, and (check 3) no cap was ever passed.
  assert.ok((timing.deferredBy.cap_reached ?? 0) > 0, "caps deferred charges");

  // Three wrong PINs: canceled with consent_failed, nothing charged.
  assert.deepEqual(
    flows.pinAnswers,
    world.pinFailures.flatMap(() => [402, 402, 200]),
  );
  for (const id of world.pinFailures) {
    const sub = subById.get(id)!;
    assert.equal(sub.status, "canceled");
    assert.equal(sub.cancel_reason, "consent_failed");
    assert.ok(!attempted.has(id), `${id} was charged without consent`);
  }

  // Pause: nothing charged while paused; resumed subscriptions start a new period when resumed.
  assert.ok(flows.paused.size > 0 && flows.resumed.size > 0, "subscriptions were paused and resumed");
  const pausedEvents = new Map(
    eventsOf("subscription.paused").map((e) => [e.object_id, e.created.getTime()]),
  );
  const resumedEvents = new Map(
    eventsOf("subscription.resumed").map((e) => [e.object_id, e.created.getTime()]),
  );
  for (const id of flows.paused) {
    const from = pausedEvents.get(id)!;
    const until = resumedEvents.get(id) ?? Number.POSITIVE_INFINITY;
    for (const p of payments.filter((x) => x.subscription_id === id))
      assert.ok(p.created.getTime() < from || p.created.getTime() >= until, `${p.id} charged while paused`);
  }

  // Late-period deferral: on the deferral operator, a period paid late starts when it was paid.
  let deferred = 0;
  for (const sub of subs) {
    if (sub.operator !== world.deferralOperator || sub.period_index === 0 || !sub.current_period_start)
      continue;
    const last = succeeded.filter((p) => p.subscription_id === sub.id && p.billing_period !== null).at(-1);
    if (!last || sub.current_period_start.getTime() !== last.created.getTime()) continue;
    if (sub.anchor.getTime() === last.created.getTime()) deferred++;
  }
  assert.ok(deferred > 0, "late payments moved their period");

  // Annual reminder: UK subscribers (signed up over a year ago) get one, at a successful charge.
  const reminders = eventsOf("subscription.reminder");
  assert.ok(reminders.length > 0, "annual reminders were sent");
  const remindedOnce = new Set<string>();
  for (const e of reminders) {
    const sub = subById.get(e.object_id)!;
    assert.ok(world.ctx.rules!(sub.country, sub.operator).annual_reminder, `${sub.id} in ${sub.country}`);
    assert.ok(!remindedOnce.has(sub.id), `${sub.id} reminded twice in a year`);
    remindedOnce.add(sub.id);
  }

  // 10. The independent auditor, from the API's own objects (every payment and refund, paged
  // like a merchant would): the merchant's available balance and the sandbox clearing account per
  // currency are what the succeeded payments captured, none more, none twice.
  const audit = await auditMerchantBooks(
    async (path) => (await call(t.app, "GET", path, { key: world.secretKey })).body,
  );
  assert.equal(audit.payments, payments.length, "the auditor saw every charge attempt");
  for (const [currency, amount] of captured)
    assert.equal(audit.available[currency], amount, `${currency}: auditor vs succeeded charges`);

  console.log(
    `simulation seed ${SEED}: ${payments.length} attempts, ${succeeded.length} succeeded, ${partials} partial, ` +
      `statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
});
