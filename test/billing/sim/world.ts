/**
 * A seeded world for billing simulations and the benchmark: merchants' subscribers across
 * countries, time zones and operators, and a simulated operator network that keeps its own record
 * of what it charged (so an auditor can compare it with our payments).
 */
import type { PaymentMethod } from "../../../src/payments/model.ts";
import type {
  ChargeOutcome,
  ChargeRequest,
  Interaction,
  PaymentMethodInput,
  PaymentProvider,
  ProviderAnswer,
  RefundAnswer,
  ResolvedMethod,
  SyncRequest,
} from "../../../src/payments/provider.ts";

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
  amount: bigint;
  charged: boolean;
  at_ms: number;
}

/**
 * An in-process provider for tests and the benchmark: it serves the `sandbox` method type in a
 * registry copy (`providers.with(...)`) and answers renewals; it never refunds or captures.
 */
export abstract class TestProvider implements PaymentProvider {
  readonly name = "sandbox";
  readonly inProcess: boolean = true;
  readonly supportsManualCapture = false;
  abstract charge(request: ChargeRequest): Promise<ProviderAnswer>;
  abstract sync(request: SyncRequest): Promise<ProviderAnswer>;
  async resolve(input: PaymentMethodInput): Promise<ResolvedMethod> {
    return { stored: input as unknown as PaymentMethod };
  }
  async refund(): Promise<RefundAnswer> {
    return { status: "failed", code: "refund_not_supported", interactions: [] };
  }
  async syncRefund(): Promise<RefundAnswer> {
    return { status: "failed", code: "refund_not_supported", interactions: [] };
  }
  async capture() {
    return { ok: false, interactions: [] };
  }
  async cancel() {
    return { ok: true, interactions: [] };
  }
}

export function interaction(operation: string, attemptId: string, outcome: ChargeOutcome): Interaction {
  return {
    operation,
    request: { attempt_id: attemptId },
    response: outcome.status === "unknown" ? null : { status: outcome.status },
    outcome: outcome.status,
    latencyMs: 0,
  };
}

/** The subscriber a simulated operator bills: the sandbox method's number. */
function msisdnOf(method: PaymentMethod): string {
  if (method.type !== "sandbox" || !method.msisdn) throw new Error("a simulated subscriber has a number");
  return method.msisdn;
}

/**
 * The simulated operators: in-process (no state outside the test), balance checks for operators
 * whose protocol has them, random declines, timeouts after the charge was applied or not, and
 * hard declines. Decisions are a function of the seed and the attempt, so a seed replays.
 * Subscribers are known by their number (`payment_method.msisdn`).
 */
export class SimulatedNetwork extends TestProvider {
  readonly records = new Map<string, OperatorRecord>();
  readonly subscribers = new Map<string, SubscriberBehaviour>();
  private lastTopUpDay = new Map<string, number>();
  balanceChecks = 0;
  private readonly random: () => number;

  constructor(
    seed: number,
    private readonly balanceOperators: ReadonlySet<string>,
    /** The time the operators see (the simulation's clock). */
    private readonly clock: { nowMs(): number },
  ) {
    super();
    this.random = rng(seed ^ 0x5eed);
  }

  private topUp(msisdn: string, nowMs: number): SubscriberBehaviour {
    const s = this.subscribers.get(msisdn);
    if (!s) throw new Error(`unknown subscriber ${msisdn}`);
    const day = Math.floor(nowMs / 86_400_000);
    const last = this.lastTopUpDay.get(msisdn) ?? day;
    for (let d = last; d < day; d++) if (this.random() < s.topUpChance) s.balance += s.topUp;
    this.lastTopUpDay.set(msisdn, day);
    return s;
  }

  async balance(request: { paymentMethod: PaymentMethod; nowMs: number }): Promise<bigint | undefined> {
    const method = request.paymentMethod;
    if (method.type !== "sandbox" || !method.operator || !this.balanceOperators.has(method.operator))
      return undefined;
    this.balanceChecks++;
    return this.topUp(msisdnOf(method), request.nowMs).balance;
  }

  async charge(request: ChargeRequest): Promise<ProviderAnswer> {
    const existing = this.records.get(request.attemptId);
    if (existing) throw new Error(`attempt ${request.attemptId} sent twice`);
    const s = this.topUp(msisdnOf(request.paymentMethod), this.clock.nowMs());
    const roll = this.random();
    const record: OperatorRecord = {
      attempt_id: request.attemptId,
      amount: request.amount,
      charged: false,
      at_ms: this.clock.nowMs(),
    };
    this.records.set(request.attemptId, record);
    let outcome: ChargeOutcome;
    if (roll < s.hardDeclineChance) {
      outcome = { status: "declined", code: "barred", message: "POL2003", retryable: false };
    } else if (roll < s.hardDeclineChance + s.declineChance) {
      outcome = { status: "declined", code: "invalid", message: "SVC0270", retryable: true };
    } else if (s.balance < request.amount) {
      outcome = { status: "declined", code: "insufficient_funds", message: "POL1000", retryable: true };
    } else {
      s.balance -= request.amount;
      record.charged = true;
      outcome = { status: "succeeded", reference: `sim_${request.attemptId}` };
    }
    // A timeout: whatever happened, our side does not hear it.
    if (this.random() < s.timeoutChance) outcome = { status: "unknown", reason: "timeout" };
    return { outcome, interactions: [interaction("charge", request.attemptId, outcome)] };
  }

  async sync(request: SyncRequest): Promise<ProviderAnswer> {
    const record = this.records.get(request.attemptId);
    const outcome: ChargeOutcome = !record
      ? { status: "unknown", reason: "sync_not_found" }
      : record.charged
        ? { status: "succeeded", reference: `sim_${request.attemptId}` }
        : { status: "declined", code: "invalid", message: "SVC0270", retryable: true };
    return { outcome, interactions: [interaction("sync", request.attemptId, outcome)] };
  }
}

/** Always approves at once (the benchmark's instant mode); counts every charge it applied. */
export class InstantNetwork extends TestProvider {
  charges = 0;
  async charge(request: ChargeRequest): Promise<ProviderAnswer> {
    this.charges++;
    const outcome: ChargeOutcome = { status: "succeeded", reference: `sim_${request.attemptId}` };
    return { outcome, interactions: [interaction("charge", request.attemptId, outcome)] };
  }
  async sync(request: SyncRequest): Promise<ProviderAnswer> {
    return this.charge(request);
  }
}
