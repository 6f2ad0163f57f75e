/**
 * A seeded world for billing simulations and the benchmark: merchants' subscribers across
 * countries, time zones and operators, and a simulated operator network that keeps its own record
 * of what it charged (so an auditor can compare it with our payments).
 */
import type { ChargeRequest, ChargeResult, SubscriptionCharger } from "../../../src/billing/charger.ts";
import type { SubscriptionRow } from "../../../src/billing/model.ts";
import type { Interaction } from "../../../src/payments/provider.ts";

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

export function between(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

export interface SubscriberBehaviour {
  balance: bigint;
  /** Top-up per day, in minor units, with this chance. */
  topUp: bigint;
  topUpChance: number;
  declineChance: number;
  timeoutChance: number;
  hardDeclineChance: number;
}

/** What the operator knows about one attempt (by our attempt id, its idempotency key). */
export interface OperatorRecord {
  attempt_id: string;
  subscription_id: string;
  amount: bigint;
  charged: boolean;
  at_ms: number;
}

/**
 * The simulated operators: in-process (no state outside the test), balance checks for operators
 * whose protocol has them, random declines, timeouts after the charge was applied or not, and
 * hard declines. Decisions are a function of the seed and the attempt, so a seed replays.
 */
export class SimulatedNetwork implements SubscriptionCharger {
  readonly provider = "sandbox";
  readonly inProcess = true;
  readonly records = new Map<string, OperatorRecord>();
  readonly subscribers = new Map<string, SubscriberBehaviour>();
  private lastTopUpDay = new Map<string, number>();
  balanceChecks = 0;
  private readonly random: () => number;

  constructor(
    seed: number,
    private readonly balanceOperators: ReadonlySet<string>,
  ) {
    this.random = rng(seed ^ 0x5eed);
  }

  private topUp(subscription: SubscriptionRow, nowMs: number): SubscriberBehaviour {
    const s = this.subscribers.get(subscription.customer_id);
    if (!s) throw new Error(`unknown subscriber ${subscription.customer_id}`);
    const day = Math.floor(nowMs / 86_400_000);
    const last = this.lastTopUpDay.get(subscription.customer_id) ?? day;
    for (let d = last; d < day; d++) if (this.random() < s.topUpChance) s.balance += s.topUp;
    this.lastTopUpDay.set(subscription.customer_id, day);
    return s;
  }

  async balance(subscription: SubscriptionRow, nowMs: number): Promise<bigint | undefined> {
    if (!subscription.operator || !this.balanceOperators.has(subscription.operator)) return undefined;
    this.balanceChecks++;
    return this.topUp(subscription, nowMs).balance;
  }

  async charge(request: ChargeRequest): Promise<{ result: ChargeResult; interaction: Interaction }> {
    const existing = this.records.get(request.attempt_id);
    if (existing) throw new Error(`attempt ${request.attempt_id} sent twice`);
    const s = this.topUp(request.subscription, request.now_ms);
    const roll = this.random();
    const record: OperatorRecord = {
      attempt_id: request.attempt_id,
      subscription_id: request.subscription.id,
      amount: request.amount,
      charged: false,
      at_ms: request.now_ms,
    };
    this.records.set(request.attempt_id, record);
    let result: ChargeResult;
    if (roll < s.hardDeclineChance) {
      result = { status: "declined", code: "POL2003", message: "barred", category: "hard" };
    } else if (roll < s.hardDeclineChance + s.declineChance) {
      result = { status: "declined", code: "SVC0270", message: "charge failed", category: "soft" };
    } else if (s.balance < request.amount) {
      result = {
        status: "declined",
        code: "POL1000",
        message: "insufficient credit",
        category: "insufficient_funds",
      };
    } else {
      s.balance -= request.amount;
      record.charged = true;
      result = { status: "succeeded", reference: `sim_${request.attempt_id}`, amount: request.amount };
    }
    // A timeout: whatever happened, our side does not hear it.
    if (this.random() < s.timeoutChance) result = { status: "unknown", reason: "timeout" };
    return { result, interaction: this.interaction("charge", request, result) };
  }

  async sync(request: ChargeRequest): Promise<{ result: ChargeResult; interaction: Interaction }> {
    const record = this.records.get(request.attempt_id);
    const result: ChargeResult = !record
      ? { status: "declined", code: "not_found", message: "never received", category: "soft" }
      : record.charged
        ? { status: "succeeded", reference: `sim_${request.attempt_id}`, amount: record.amount }
        : { status: "declined", code: "SVC0270", message: "charge failed", category: "soft" };
    return { result, interaction: this.interaction("sync", request, result) };
  }

  private interaction(operation: string, request: ChargeRequest, result: ChargeResult): Interaction {
    return {
      operation,
      request: { attempt_id: request.attempt_id, amount: Number(request.amount) },
      response: result.status === "unknown" ? null : { status: result.status },
      outcome: result.status,
      latencyMs: 0,
    };
  }
}

/** Always approves at once (the benchmark's instant mode); records every charge it applied. */
export class InstantNetwork implements SubscriptionCharger {
  readonly provider = "sandbox";
  readonly inProcess = true;
  charges = 0;
  async charge(request: ChargeRequest): Promise<{ result: ChargeResult; interaction: Interaction }> {
    this.charges++;
    const result: ChargeResult = {
      status: "succeeded",
      reference: `sim_${request.attempt_id}`,
      amount: request.amount,
    };
    return {
      result,
      interaction: {
        operation: "charge",
        request: { attempt_id: request.attempt_id },
        response: { status: "succeeded" },
        outcome: "succeeded",
        latencyMs: 0,
      },
    };
  }
  async sync(request: ChargeRequest) {
    return this.charge(request);
  }
}
