import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Capability, ChargeInput, Connector, MemoryLog, Outcome } from "./types.ts";

/**
 * The conformance suite: named scenarios every connector passes against the carrier network
 * simulator over real sockets. A fixture adapts one connector (which payer numbers to use, how to
 * move pending work along, how to read a subscriber's balance); the scenarios assert outcomes and
 * money, never message text or timing.
 *
 * Payers behave by their last four digits: 0001 insufficient funds, 0002 barred, 0003 charged
 * but the reply is lost, 0004 result later by callback/receipt, 0005 balance covers half.
 */

export interface ConformanceFixture {
  name: string;
  connector: Connector;
  log: MemoryLog;
  currency: string;
  /** A price a normal subscriber (100.00 of credit) can pay. */
  amount: bigint;
  /** The payer part of a charge for a behaviour suffix; `n` makes the number unique per scenario. */
  payer(suffix: string, n: number): Pick<ChargeInput, "msisdn" | "card">;
  /** Minor units the simulator says the payer holds (to prove a charge happened exactly once). */
  balance(payer: Pick<ChargeInput, "msisdn" | "card">): bigint | undefined;
  /** The payer agrees on a page they were sent to (an operator's consent page). */
  approve?(url: string): Promise<void>;
  /** The last one-time code texted to a number (read from the operator's SMS outbox). */
  codeSentTo(msisdn: string): string | undefined;
  /** Gives the payer exactly this balance before a scenario, so money can be asserted exactly. */
  fund(payer: Pick<ChargeInput, "msisdn" | "card">, balance: bigint): void;
  /**
   * Whether the protocol says why it declined. CAMARA answers one `CARRIER_BILLING.PAYMENT_DENIED`
   * for a barred line and for too little credit: both read as a retryable `insufficient_funds`.
   */
  denials?: "specific" | "generic";
  /** Moves pending work along: flush request files and run the settlement desk, wait for callbacks. */
  advance(): Promise<void>;
  /** A deadline shorter than the simulator holds a lost reply. */
  short_deadline_ms: number;
  /** A connector of the same protocol facing a hostile peer, and a charge to send it. */
  hostile(): Promise<{
    connector: Connector;
    input: ChargeInput;
    close(): Promise<void>;
    drive?: () => Promise<Outcome>;
  }>;
  /** Secrets that must never appear in the interaction log. */
  secrets: string[];
}

export interface Scenario {
  name: string;
  needs?: Capability;
  run(f: ConformanceFixture): Promise<void>;
}

export const SETTLE_ROUNDS_MAX = 20;

let counter = 0;
const run = randomBytes(4).toString("hex");
/** Unique per run, at most 30 characters (the Parlay X referenceCode limit). */
function attempt(_f: ConformanceFixture, label: string): string {
  counter += 1;
  return `${label.slice(0, 6)}-${run}-${counter}`;
}

/** Drives an outcome to its final state through `sync`, as the core's reconciliation job would. */
export async function settle(
  f: ConformanceFixture,
  attempt_id: string,
  first: Outcome,
  amount: bigint,
): Promise<Outcome> {
  let outcome = first;
  for (
    let round = 0;
    round < SETTLE_ROUNDS_MAX && (outcome.status === "pending" || outcome.status === "unknown");
    round++
  ) {
    await f.advance();
    outcome = await f.connector.sync({ attempt_id, amount, currency: f.currency });
  }
  return outcome;
}

/** A charge as a payer makes it: where the operator sends them to its consent page, they agree. */
async function charge(
  f: ConformanceFixture,
  attempt_id: string,
  suffix: string,
  n: number,
  extra: Partial<ChargeInput> = {},
): Promise<Outcome> {
  const o = await f.connector.charge({
    attempt_id,
    amount: f.amount,
    currency: f.currency,
    description: "Conformance coins",
    // The payer is present (in a browser that can come back here), as in a first purchase.
    return_url: "https://merchant.example/return",
    ...f.payer(suffix, n),
    ...extra,
  });
  if (o.status === "pending" && o.next_action?.type === "redirect" && f.approve)
    await f.approve(o.next_action.url);
  return o;
}

function assertSucceeded(
  o: Outcome,
  f: ConformanceFixture,
  amount = f.amount,
): asserts o is Extract<Outcome, { status: "succeeded" }> {
  assert.equal(
    o.status,
    "succeeded",
    `expected succeeded, got ${JSON.stringify(o, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`,
  );
  assert.ok(o.provider_reference.length > 0);
  assert.equal(o.amount, amount);
  assert.equal(o.currency, f.currency);
}

function assertDeclined(o: Outcome, category: string): void {
  assert.equal(o.status, "declined", `expected declined, got ${o.status}`);
  if (o.status === "declined") assert.equal(o.category, category);
}

/** What a funded payer starts with: ten prices. */
function funded(f: ConformanceFixture): bigint {
  return 10n * f.amount;
}

function assertBalance(
  f: ConformanceFixture,
  payer: Pick<ChargeInput, "msisdn" | "card">,
  expected: bigint,
  what: string,
) {
  assert.equal(f.balance(payer), expected, `${what}: the payer's balance`);
}

let payerCounter = 0;
function nextPayer(): number {
  payerCounter += 1;
  return payerCounter;
}

export const SCENARIOS: Scenario[] = [
  {
    name: "should_charge_prepaid_subscriber",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "chg");
      const payer = f.payer("0010", n);
      f.fund(payer, funded(f));
      const o = await settle(f, id, await charge(f, id, "0010", n), f.amount);
      assertSucceeded(o, f);
      assertBalance(f, payer, funded(f) - f.amount, "charged once");
    },
  },
  {
    name: "should_decline_insufficient_funds",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "nsf");
      const payer = f.payer("0001", n);
      f.fund(payer, f.amount - 1n);
      assertDeclined(await settle(f, id, await charge(f, id, "0001", n), f.amount), "insufficient_funds");
      assertBalance(f, payer, f.amount - 1n, "nothing taken");
    },
  },
  {
    name: "should_decline_barred",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "bar");
      const payer = f.payer("0002", n);
      f.fund(payer, funded(f));
      const category = f.denials === "generic" ? "insufficient_funds" : "barred";
      assertDeclined(await settle(f, id, await charge(f, id, "0002", n), f.amount), category);
      assertBalance(f, payer, funded(f), "nothing taken");
    },
  },
  {
    name: "should_decline_when_balance_covers_half",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "half");
      assertDeclined(await settle(f, id, await charge(f, id, "0005", n), f.amount), "insufficient_funds");
      assertBalance(f, f.payer("0005", n), f.amount / 2n, "the half balance untouched");
    },
  },
  {
    name: "should_settle_timeout_once",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "tmo");
      const payer = f.payer("0003", n);
      f.fund(payer, funded(f));
      const first = await charge(f, id, "0003", n, { deadline_ms: f.short_deadline_ms });
      // The charge was applied but the reply was lost: never a success, never a decline.
      assert.ok(first.status === "unknown" || first.status === "pending", `first outcome ${first.status}`);
      const settled = await settle(f, id, first, f.amount);
      assertSucceeded(settled, f);
      assertBalance(f, payer, funded(f) - f.amount, "charged once though the reply was lost");
      // Asking again, or retrying with the same attempt id, neither charges again nor changes the answer.
      const again = await f.connector.sync({ attempt_id: id, amount: f.amount, currency: f.currency });
      assertSucceeded(again, f);
      assert.equal(again.provider_reference, settled.provider_reference);
      const retried = await settle(f, id, await charge(f, id, "0003", n), f.amount);
      assertSucceeded(retried, f);
      assertBalance(f, payer, funded(f) - f.amount, "a retry charges nothing more");
    },
  },
  {
    name: "should_deliver_late_result",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "late");
      const payer = f.payer("0004", n);
      f.fund(payer, funded(f));
      const first = await charge(f, id, "0004", n);
      assert.notEqual(first.status, "declined");
      assertSucceeded(await settle(f, id, first, f.amount), f);
      assertBalance(f, payer, funded(f) - f.amount, "charged once");
    },
  },
  {
    name: "should_not_double_charge_on_retry_with_same_attempt_id",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "dup");
      const payer = f.payer("0010", n);
      f.fund(payer, funded(f));
      const a = await settle(f, id, await charge(f, id, "0010", n), f.amount);
      assertBalance(f, payer, funded(f) - f.amount, "after the first charge");
      const b = await settle(f, id, await charge(f, id, "0010", n), f.amount);
      assertSucceeded(a, f);
      assertSucceeded(b, f);
      assert.equal(a.provider_reference, b.provider_reference);
      assertBalance(f, payer, funded(f) - f.amount, "the retry charged nothing more");
    },
  },
  {
    name: "should_report_never_sent_attempt_as_not_sent",
    async run(f) {
      const o = await f.connector.sync({
        attempt_id: attempt(f, "none"),
        amount: f.amount,
        currency: f.currency,
        ...f.payer("0010", nextPayer()),
      });
      // Parlay X has no status query: its sync replays the request, which then charges once.
      assert.ok(o.status === "not_sent" || o.status === "succeeded", `got ${o.status}`);
    },
  },
  {
    name: "should_refund_succeeded_charge",
    needs: "refund",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "rfd");
      const payer = f.payer("0010", n);
      f.fund(payer, funded(f));
      const charged = await settle(f, id, await charge(f, id, "0010", n), f.amount);
      assertSucceeded(charged, f);
      const half = f.amount / 2n;
      const refund = await f.connector.refund!({
        attempt_id: attempt(f, "rfd2"),
        original_reference: charged.provider_reference,
        amount: half,
        currency: f.currency,
        description: "refund",
        ...payer,
      });
      assertSucceeded(refund, f, half);
      assertBalance(f, payer, funded(f) - f.amount + half, "half given back");
      // The rest, as a refund of everything that is left.
      const rest = await f.connector.refund!({
        attempt_id: attempt(f, "rfd3"),
        original_reference: charged.provider_reference,
        amount: f.amount - half,
        currency: f.currency,
        description: "refund",
        ...payer,
      });
      assertSucceeded(rest, f, f.amount - half);
      assertBalance(f, payer, funded(f), "all given back");
    },
  },
  {
    name: "should_refuse_refund_above_charged_amount",
    needs: "refund",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "rfx");
      const payer = f.payer("0010", n);
      f.fund(payer, funded(f));
      const charged = await settle(f, id, await charge(f, id, "0010", n), f.amount);
      assertSucceeded(charged, f);
      const refund = await f.connector.refund!({
        attempt_id: attempt(f, "rfx2"),
        original_reference: charged.provider_reference,
        amount: f.amount + 1n,
        currency: f.currency,
        description: "refund",
        ...payer,
      });
      assert.equal(refund.status, "declined");
      assertBalance(f, payer, funded(f) - f.amount, "nothing given back");
    },
  },
  {
    name: "should_reserve_capture_and_release",
    needs: "reserve",
    async run(f) {
      const c = f.connector;
      const payer = f.payer("0010", nextPayer());
      const msisdn = payer.msisdn ?? "";
      f.fund(payer, funded(f));
      const reserve = (label: string) =>
        c.reserve!({
          attempt_id: attempt(f, label),
          msisdn,
          amount: f.amount,
          currency: f.currency,
          description: "reserve",
        });
      const reserved = await reserve("rsv");
      if (reserved.status === "pending") {
        // The operator asks the payer for a code before it holds the money (CAMARA validation):
        // cancelling the reservation that waits for it gives everything back.
        assert.ok(
          c.capabilities.has("consent"),
          "only an operator with a code step leaves a reservation pending",
        );
        assert.ok(reserved.provider_reference);
        assertBalance(f, payer, funded(f) - f.amount, "held while the code is awaited");
        const cancelled = await c.release!({
          attempt_id: attempt(f, "rel"),
          reservation_id: reserved.provider_reference,
          msisdn,
        });
        assert.equal(cancelled.status, "succeeded");
        assertBalance(f, payer, funded(f), "released");
        return;
      }
      assert.equal(reserved.status, "succeeded");
      assert.ok(reserved.reservation_id);
      assertBalance(f, payer, funded(f) - f.amount, "held by the reservation");
      const captured = await c.capture!({
        attempt_id: attempt(f, "cap"),
        reservation_id: reserved.reservation_id,
        msisdn,
        amount: f.amount,
        currency: f.currency,
        description: "capture",
      });
      assertSucceeded(captured, f);
      assertBalance(f, payer, funded(f) - f.amount, "captured, not taken twice");
      const other = await reserve("rsv2");
      assert.ok(other.reservation_id);
      assertBalance(f, payer, funded(f) - 2n * f.amount, "a second reservation holds more");
      const released = await c.release!({
        attempt_id: attempt(f, "rel"),
        reservation_id: other.reservation_id,
        msisdn,
      });
      assert.equal(released.status, "succeeded");
      assertBalance(f, payer, funded(f) - f.amount, "the released reservation given back");
    },
  },
  {
    name: "should_verify_a_one_time_code_and_refuse_a_wrong_one",
    needs: "consent",
    async run(f) {
      const c = f.connector;
      const payer = f.payer("0010", nextPayer());
      const msisdn = payer.msisdn ?? "";
      f.fund(payer, funded(f));
      const id = attempt(f, "pin");
      const start = await c.startConsent!({
        attempt_id: id,
        msisdn,
        amount: f.amount,
        currency: f.currency,
        description: "Conformance coins",
      });
      assert.equal(start.status, "pin_sent");
      if (start.status !== "pin_sent") return;
      assert.equal(start.next_action.type, "enter_pin");
      const code = f.codeSentTo(msisdn);
      assert.ok(code, "the payer received a code by SMS");
      const wrong = code === "000000" ? "111111" : "000000";
      assert.equal((await c.verifyConsent!({ consent_id: start.consent_id, pin: wrong })).status, "rejected");
      assert.equal((await c.verifyConsent!({ consent_id: start.consent_id, pin: code })).status, "verified");
      const charged = await settle(
        f,
        id,
        await c.charge({
          attempt_id: id,
          msisdn,
          amount: f.amount,
          currency: f.currency,
          description: "coins",
          consent_id: start.consent_id,
        }),
        f.amount,
      );
      assertSucceeded(charged, f);
      assertBalance(f, payer, funded(f) - f.amount, "charged once after the code");
    },
  },
  {
    name: "should_report_prepaid_balance",
    needs: "balance",
    async run(f) {
      const payer = f.payer("0010", nextPayer());
      const b = await f.connector.balance!({ msisdn: payer.msisdn ?? "" });
      assert.equal(b.status, "ok");
      if (b.status === "ok") {
        assert.equal(b.rating, "prepaid");
        assert.equal(b.currency, f.currency);
        assert.equal(b.balance, f.balance(payer));
      }
    },
  },
  {
    name: "should_send_sms",
    needs: "send_sms",
    async run(f) {
      const o = await f.connector.sendSms!({
        attempt_id: attempt(f, "sms"),
        msisdn: f.payer("0010", nextPayer()).msisdn ?? "",
        text: "Thank you: 5.00 charged. Reply STOP to end.",
      });
      assert.equal(o.status, "sent");
    },
  },
  {
    name: "should_treat_malformed_reply_as_unknown",
    async run(f) {
      const h = await f.hostile();
      try {
        const o = h.drive ? await h.drive() : await h.connector.charge(h.input);
        assert.equal(o.status, "unknown", `got ${o.status}`);
      } finally {
        await h.connector.close();
        await h.close();
      }
    },
  },
  {
    name: "should_log_every_interaction_without_secrets",
    async run(f) {
      const n = nextPayer();
      const id = attempt(f, "log");
      await settle(f, id, await charge(f, id, "0010", n), f.amount);
      const mine = f.log.entries.filter((e) => e.attempt_id === id);
      assert.ok(mine.length >= 1, "no interaction recorded for the attempt");
      const text = JSON.stringify(f.log.entries, (_k, v) => (typeof v === "bigint" ? String(v) : v));
      for (const secret of f.secrets)
        assert.ok(!text.includes(secret), `secret ${secret.slice(0, 3)}… leaked into the log`);
    },
  },
];

/** The scenarios that apply to a connector, by its declared capabilities. */
export function scenariosFor(connector: Connector): Scenario[] {
  return SCENARIOS.filter((s) => !s.needs || connector.capabilities.has(s.needs));
}
