import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { Operator } from "../connectors/index.ts";
import { digitsOf, fromDecimal, getOperator } from "../connectors/index.ts";

/**
 * The simulated operators' billing systems: subscribers, balances, caps, barring and a journal of
 * transactions keyed by the client's idempotency key. Protocol front ends (OneAPI, CAMARA,
 * Parlay X, SMPP, settlement files, card PSP) translate their wire format into these calls.
 */

export const TEST_PIN = "1234";

const require = createRequire(import.meta.url);
const DEFAULT_BALANCES = (require("./default-balances.json") as { balances: Record<string, number> })
  .balances;

/**
 * A normal subscriber's starting balance in minor units: about 100 US dollars' worth of the local
 * currency (at least 100 units), so a usual price is payable everywhere (200 XOF as 1.00 EUR is).
 */
export function defaultBalance(currency: string): bigint {
  return BigInt(DEFAULT_BALANCES[currency] ?? 100) * 10n ** BigInt(digitsOf(currency));
}
export const PIN_ATTEMPTS_MAX = 3;
export const SNAPSHOT_TXNS_MAX = 50_000;

/** Deterministic PRNG (mulberry32): the same seed replays the same latencies and faults. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a number does, by its last four digits (see the README of the simulator). */
export type Behaviour = "normal" | "insufficient" | "barred" | "hang" | "callback" | "half" | "postpaid";

/**
 * A card's account in the network: a fingerprint that keeps the last four digits (they choose
 * the behaviour) and not the number, because the network's state is saved (simulator_state).
 */
export function cardAccountOf(number: string): string {
  const digits = BigInt(`0x${createHash("sha256").update(`card|${number}`).digest("hex").slice(0, 12)}`)
    .toString()
    .padStart(15, "0")
    .slice(-11);
  return `+9${digits}${number.slice(-4)}`;
}

export function behaviourOf(account: string): Behaviour {
  const tail = account.replace(/\D/g, "").slice(-4);
  switch (tail) {
    case "0001":
      return "insufficient";
    case "0002":
      return "barred";
    case "0003":
      return "hang";
    case "0004":
      return "callback";
    case "0005":
      return "half";
    case "0006":
      return "postpaid";
    default:
      return "normal";
  }
}

export interface Subscriber {
  msisdn: string;
  currency: string;
  rating: "prepaid" | "postpaid";
  /** Prepaid balance in minor units; for `half` numbers the balance is set to half of each price. */
  balance: bigint;
  barred: boolean;
  behaviour: Behaviour;
  /** Spend this calendar month, for caps. */
  month_spent: bigint;
}

export type DeclineReason =
  | "insufficient_funds"
  | "barred"
  | "limit_transaction"
  | "limit_month"
  | "invalid_currency"
  | "transient";

export type TxnKind = "charge" | "refund" | "reservation";
export type TxnStatus = "charged" | "refunded" | "reserved" | "released" | "declined" | "processing";

export interface Txn {
  id: string;
  key: string;
  kind: TxnKind;
  operator: string;
  protocol: string;
  msisdn: string;
  amount: bigint;
  currency: string;
  description: string;
  status: TxnStatus;
  reason?: DeclineReason;
  /** For reservations: amount captured so far. For charges: amount refunded so far. */
  used: bigint;
  original_id?: string;
  created_ms: number;
  behaviour: Behaviour;
  /** Protocol-specific extras (notify URL, SMPP message id, …). */
  extra: Record<string, string>;
}

export type ChargeResult =
  | { kind: "applied"; txn: Txn }
  | { kind: "declined"; txn: Txn; reason: DeclineReason }
  | { kind: "replay"; txn: Txn }
  | { kind: "transient" };

export interface NetworkOptions {
  seed: number;
  /** Fraction (0..1) of money calls answered by a transient error before anything is applied. */
  error_rate?: number;
  /** Postpaid subscribers' monthly spend limit, in major units of the local currency. */
  postpaid_month_max?: string;
}

export interface Consent {
  id: string;
  msisdn: string;
  operator: string;
  amount: bigint;
  currency: string;
  attempts: number;
  verified: boolean;
}

export class CarrierNetwork {
  readonly random: () => number;
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly byKey = new Map<string, Txn>();
  private readonly byId = new Map<string, Txn>();
  private readonly consents = new Map<string, Consent>();
  /** SMS the operators "sent" (PINs, receipts), newest last. */
  readonly outbox: { msisdn: string; text: string; operator: string }[] = [];
  private sequence = 0;

  constructor(private readonly options: NetworkOptions) {
    this.random = prng(options.seed);
  }

  nextId(prefix: string): string {
    this.sequence += 1;
    return `${prefix}${String(this.sequence).padStart(8, "0")}`;
  }

  operator(id: string): Operator | undefined {
    return getOperator(id);
  }

  subscriber(msisdn: string, currency: string): Subscriber {
    const key = msisdn.replace(/^tel:/, "").replace(/^\+?/, "+");
    let s = this.subscribers.get(key);
    if (!s) {
      const behaviour = behaviourOf(key);
      s = {
        msisdn: key,
        currency,
        rating: behaviour === "postpaid" ? "postpaid" : "prepaid",
        balance: behaviour === "insufficient" ? 0n : defaultBalance(currency),
        barred: behaviour === "barred",
        behaviour,
        month_spent: 0n,
      };
      this.subscribers.set(key, s);
    }
    return s;
  }

  /** Sets a subscriber's prepaid balance (tests and the control API), creating the subscriber. */
  fund(msisdn: string, currency: string, balance: bigint): Subscriber {
    const s = this.subscriber(msisdn, currency);
    s.balance = balance;
    return s;
  }

  findSubscriber(msisdn: string): Subscriber | undefined {
    return this.subscribers.get(msisdn.replace(/^tel:/, "").replace(/^\+?/, "+"));
  }

  txnByKey(scope: string, key: string): Txn | undefined {
    return this.byKey.get(`${scope}|${key}`);
  }

  txnById(id: string): Txn | undefined {
    return this.byId.get(id);
  }

  /** Every transaction recorded under a scope (operator and protocol), oldest first. */
  *txnsIn(scope: string): Iterable<Txn> {
    const prefix = `${scope}|`;
    for (const [k, t] of this.byKey) if (k.startsWith(prefix)) yield t;
  }

  /** The newest charge of a subscriber that still has `amount` left to refund (Parlay X refunds name no charge). */
  latestRefundable(scope: string, msisdn: string, amount: bigint): Txn | undefined {
    const who = msisdn.replace(/^tel:/, "").replace(/^\+?/, "+");
    let found: Txn | undefined;
    for (const [k, t] of this.byKey) {
      if (
        k.startsWith(`${scope}|`) &&
        t.kind === "charge" &&
        t.status === "charged" &&
        t.msisdn === who &&
        t.amount - t.used >= amount
      )
        found = t;
    }
    return found;
  }

  private record(scope: string, txn: Txn): void {
    this.version += 1;
    this.byKey.set(`${scope}|${txn.key}`, txn);
    this.byId.set(txn.id, txn);
  }

  /** Checks everything a charge or reservation must pass; undefined when it may proceed. */
  private refuse(op: Operator, s: Subscriber, amount: bigint, currency: string): DeclineReason | undefined {
    if (currency !== op.currency) return "invalid_currency";
    if (s.barred) return "barred";
    const txMax = op.caps.transaction_max ? fromDecimal(op.caps.transaction_max, currency) : undefined;
    if (txMax !== undefined && amount > txMax) return "limit_transaction";
    const monthCap =
      op.caps.month_max ?? (s.rating === "postpaid" ? (this.options.postpaid_month_max ?? "300") : undefined);
    const monthMax = monthCap ? fromDecimal(monthCap, currency) : undefined;
    if (monthMax !== undefined && s.month_spent + amount > monthMax) return "limit_month";
    if (s.behaviour === "half") s.balance = amount / 2n;
    if (s.rating === "prepaid" && s.balance < amount) return "insufficient_funds";
    return undefined;
  }

  /**
   * Charges (or reserves) once per idempotency key within `scope` (operator and protocol). A
   * repeated key never moves money again: the caller answers with the original outcome.
   */
  charge(args: {
    scope: string;
    key: string;
    operator: string;
    protocol: string;
    msisdn: string;
    amount: bigint;
    currency: string;
    description: string;
    kind?: "charge" | "reservation";
    extra?: Record<string, string>;
  }): ChargeResult {
    const existing = this.txnByKey(args.scope, args.key);
    if (existing) return { kind: "replay", txn: existing };
    if ((this.options.error_rate ?? 0) > 0 && this.random() < (this.options.error_rate ?? 0))
      return { kind: "transient" };
    const op = this.operator(args.operator);
    const s = this.subscriber(args.msisdn, op?.currency ?? args.currency);
    const kind = args.kind ?? "charge";
    const txn: Txn = {
      id: this.nextId(kind === "reservation" ? "RSV" : "CHG"),
      key: args.key,
      kind,
      operator: args.operator,
      protocol: args.protocol,
      msisdn: s.msisdn,
      amount: args.amount,
      currency: args.currency,
      description: args.description,
      status: "declined",
      used: 0n,
      created_ms: Date.now(),
      behaviour: s.behaviour,
      extra: { ...args.extra },
    };
    const reason = op ? this.refuse(op, s, args.amount, args.currency) : "invalid_currency";
    if (reason) {
      txn.reason = reason;
      this.record(args.scope, txn);
      return { kind: "declined", txn, reason };
    }
    if (s.rating === "prepaid") s.balance -= args.amount;
    s.month_spent += args.amount;
    txn.status = kind === "reservation" ? "reserved" : "charged";
    this.record(args.scope, txn);
    return { kind: "applied", txn };
  }

  /**
   * Card payments: the card's last digits choose the behaviour like an MSISDN's, and every card
   * has the default balance of the currency asked.
   */
  /**
   * A card's account in the network: a fingerprint that keeps the last four digits (they choose
   * the behaviour) and not the number, because the network's state is saved (simulator_state).
   */
  cardAccount(number: string): string {
    return cardAccountOf(number);
  }

  chargeCard(args: {
    key: string;
    card: string;
    amount: bigint;
    currency: string;
    description: string;
  }): ChargeResult {
    const existing = this.txnByKey("cardpsp", args.key);
    if (existing) return { kind: "replay", txn: existing };
    if ((this.options.error_rate ?? 0) > 0 && this.random() < (this.options.error_rate ?? 0))
      return { kind: "transient" };
    const s = this.subscriber(this.cardAccount(args.card), args.currency);
    const txn: Txn = {
      id: this.nextId("PAY"),
      key: args.key,
      kind: "charge",
      operator: "cardpsp",
      protocol: "cardpsp",
      msisdn: s.msisdn,
      amount: args.amount,
      currency: args.currency,
      description: args.description,
      status: "declined",
      used: 0n,
      created_ms: Date.now(),
      behaviour: s.behaviour,
      extra: {},
    };
    if (s.behaviour === "half") s.balance = args.amount / 2n;
    const reason: DeclineReason | undefined = s.barred
      ? "barred"
      : s.balance < args.amount
        ? "insufficient_funds"
        : undefined;
    if (reason) {
      txn.reason = reason;
      this.record("cardpsp", txn);
      return { kind: "declined", txn, reason };
    }
    s.balance -= args.amount;
    txn.status = "charged";
    this.record("cardpsp", txn);
    return { kind: "applied", txn };
  }

  /**
   * The payer refused the 3-D Secure step, or the merchant canceled (a void before settlement):
   * the authorisation is given back.
   */
  voidCard(txn: Txn, failure = "authentication_failed"): void {
    if (txn.status !== "charged") return;
    const s = this.findSubscriber(txn.msisdn);
    if (s) s.balance += txn.amount;
    txn.status = "declined";
    txn.reason = "barred";
    txn.extra.failure = failure;
  }

  /** Captures part or all of a reservation; the rest stays reserved until released. */
  capture(args: {
    scope: string;
    key: string;
    reservation_id: string;
    amount: bigint;
  }): ChargeResult | { kind: "invalid"; why: string } {
    const existing = this.txnByKey(args.scope, args.key);
    if (existing) return { kind: "replay", txn: existing };
    const r = this.byId.get(args.reservation_id);
    if (r?.kind !== "reservation" || r.status !== "reserved")
      return { kind: "invalid", why: "no open reservation" };
    if (r.used + args.amount > r.amount) return { kind: "invalid", why: "amount exceeds the reservation" };
    r.used += args.amount;
    const txn: Txn = {
      ...r,
      id: this.nextId("CHG"),
      key: args.key,
      kind: "charge",
      status: "charged",
      amount: args.amount,
      used: 0n,
      original_id: r.id,
      extra: {},
    };
    this.record(args.scope, txn);
    return { kind: "applied", txn };
  }

  release(args: { reservation_id: string }): Txn | undefined {
    const r = this.byId.get(args.reservation_id);
    if (r?.kind !== "reservation") return undefined;
    if (r.status === "reserved") {
      const s = this.findSubscriber(r.msisdn);
      const rest = r.amount - r.used;
      if (s && s.rating === "prepaid") s.balance += rest;
      if (s) s.month_spent -= rest;
      r.status = "released";
    }
    return r;
  }

  refund(args: {
    scope: string;
    key: string;
    original_id: string | undefined;
    amount: bigint;
    currency: string;
  }): ChargeResult | { kind: "invalid"; why: "original_missing" | "original_unknown" | "exceeds_charged" } {
    const existing = this.txnByKey(args.scope, args.key);
    if (existing) return { kind: "replay", txn: existing };
    if (!args.original_id) return { kind: "invalid", why: "original_missing" };
    const original = this.byId.get(args.original_id);
    if (original?.kind !== "charge" || original.status !== "charged")
      return { kind: "invalid", why: "original_unknown" };
    if (original.used + args.amount > original.amount || args.currency !== original.currency)
      return { kind: "invalid", why: "exceeds_charged" };
    original.used += args.amount;
    const s = this.findSubscriber(original.msisdn);
    if (s && s.rating === "prepaid") s.balance += args.amount;
    const txn: Txn = {
      ...original,
      id: this.nextId("RFD"),
      key: args.key,
      kind: "refund",
      status: "refunded",
      amount: args.amount,
      used: 0n,
      original_id: original.id,
      extra: {},
    };
    this.record(args.scope, txn);
    return { kind: "applied", txn };
  }

  startConsent(args: {
    operator: string;
    msisdn: string;
    amount: bigint;
    currency: string;
    description: string;
  }): Consent {
    const c: Consent = {
      id: this.nextId("CNS"),
      msisdn: args.msisdn,
      operator: args.operator,
      amount: args.amount,
      currency: args.currency,
      attempts: 0,
      verified: false,
    };
    this.consents.set(c.id, c);
    this.sendSms(
      args.operator,
      args.msisdn,
      `Your PIN is ${TEST_PIN}. ${args.description}. Reply STOP to cancel.`,
    );
    return c;
  }

  verifyConsent(id: string, pin: string): "verified" | "wrong_pin" | "locked" | "unknown" {
    const c = this.consents.get(id);
    if (!c) return "unknown";
    if (c.verified) return "verified";
    if (c.attempts >= PIN_ATTEMPTS_MAX) return "locked";
    c.attempts += 1;
    if (pin !== TEST_PIN) return c.attempts >= PIN_ATTEMPTS_MAX ? "locked" : "wrong_pin";
    c.verified = true;
    return "verified";
  }

  /** Bumped by every change worth keeping: a saver writes a snapshot when it moved. */
  version = 0;

  /**
   * What the operators' systems hold, as JSON (bigints as strings), to survive a restart: every
   * subscriber, and the newest transactions (at most `SNAPSHOT_TXNS_MAX`, enough to answer about
   * any attempt still in flight; payments stop asking after minutes).
   */
  snapshot(): string {
    const big = (_k: string, v: unknown) => (typeof v === "bigint" ? `${v}n` : v);
    const txns = [...this.byKey.entries()].slice(-SNAPSHOT_TXNS_MAX);
    return JSON.stringify(
      {
        sequence: this.sequence,
        subscribers: [...this.subscribers.values()],
        txns,
        consents: [...this.consents.values()].slice(-SNAPSHOT_TXNS_MAX),
      },
      big,
    );
  }

  /** Restores a snapshot taken by `snapshot()` (replacing what this network holds). */
  restore(text: string): void {
    const doc = JSON.parse(text, (_k, v: unknown) =>
      typeof v === "string" && /^-?\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v,
    ) as { sequence: number; subscribers: Subscriber[]; txns: [string, Txn][]; consents: Consent[] };
    this.sequence = doc.sequence;
    this.subscribers.clear();
    for (const sub of doc.subscribers) this.subscribers.set(sub.msisdn, sub);
    this.byKey.clear();
    this.byId.clear();
    for (const [key, txn] of doc.txns) {
      // One object per transaction, reachable by key and by id, as when it was recorded.
      const known = this.byId.get(txn.id) ?? txn;
      this.byKey.set(key, known);
      this.byId.set(known.id, known);
    }
    this.consents.clear();
    for (const c of doc.consents) this.consents.set(c.id, c);
  }

  sendSms(operator: string, msisdn: string, text: string): void {
    this.outbox.push({ operator, msisdn, text });
    if (this.outbox.length > 10_000) this.outbox.shift();
  }
}
