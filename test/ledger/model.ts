/**
 * A workload generator and an independent auditor for the ledger. The auditor is deliberately
 * simple: it keeps every account's full balance, applies a journal to a copy of its whole state
 * and keeps the copy only if every transfer in the journal was accepted. It shares no code with
 * the engine; it encodes the rules as a specification (checks in the documented order).
 */
import fc from "fast-check";
import {
  type AccountSpec,
  isMove,
  type Mode,
  type ResolveInput,
  type TransferInput,
  type TransferResult,
} from "../../src/ledger/types.ts";

export const CURRENCIES = ["EUR", "USD"] as const;

/** A failing seed replays exactly: FC_SEED=<seed> FC_PATH=<path> from the failure report. */
export function replay(): { seed?: number; path?: string } {
  const seed = process.env.FC_SEED;
  return seed ? { seed: Number(seed), ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}) } : {};
}

export interface ModelAccount {
  id: string;
  merchantId: string;
  mode: Mode;
  currency: string;
  debitsMustNotExceedCredits: boolean;
  creditsMustNotExceedDebits: boolean;
}

export interface ModelBalance {
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
}

export function zeroBalance(): ModelBalance {
  return { debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n };
}

/** What the auditor remembers of an accepted transfer. */
interface Stored {
  input: TransferInput;
  type: TransferInput["type"];
  debit: string;
  credit: string;
  amount: bigint;
  currency: string;
  expiresAtMs: number | undefined;
}

interface ModelState {
  transfers: Map<string, Stored>;
  resolutions: Map<string, "post_pending" | "void_pending" | "expire_pending">;
  balances: Map<string, ModelBalance>;
}

function copyState(s: ModelState): ModelState {
  return {
    transfers: new Map(s.transfers),
    resolutions: new Map(s.resolutions),
    balances: new Map([...s.balances].map(([id, b]) => [id, { ...b }])),
  };
}

export class Auditor {
  private state: ModelState = { transfers: new Map(), resolutions: new Map(), balances: new Map() };
  readonly accepted: Stored[] = [];

  constructor(readonly accounts: ReadonlyMap<string, ModelAccount>) {}

  balance(id: string): ModelBalance {
    return { ...(this.state.balances.get(id) ?? zeroBalance()) };
  }

  /** Predicts the result of every input of one batch and updates the model with the accepted journals. */
  apply(inputs: readonly TransferInput[], nowMs: number): TransferResult[] {
    const results: TransferResult[] = inputs.map(() => "ok");
    const journalIds = [...new Set(inputs.map((t) => t.journalId))];
    for (const journalId of journalIds) {
      const indices = inputs.flatMap((t, i) => (t.journalId === journalId ? [i] : []));
      const draft = copyState(this.state);
      const added: Stored[] = [];
      let failed = false;
      for (const i of indices) {
        const outcome = this.one(draft, inputs[i]!, nowMs, added);
        results[i] = outcome;
        if (outcome !== "ok" && outcome !== "exists") {
          for (const j of indices) if (j !== i) results[j] = "linked_transfer_failed";
          failed = true;
          break;
        }
      }
      if (!failed) {
        this.state = draft;
        this.accepted.push(...added);
      }
    }
    return results;
  }

  private one(s: ModelState, t: TransferInput, nowMs: number, added: Stored[]): TransferResult {
    const previous = s.transfers.get(t.id);
    if (previous) return sameAs(previous, t) ? "exists" : "exists_with_different_fields";

    let debit: string;
    let credit: string;
    let amount: bigint;
    let currency: string;
    let pending: Stored | undefined;
    if (isMove(t)) {
      if (t.amount <= 0n) return "amount_must_be_positive";
      if (t.debitAccountId === t.creditAccountId) return "accounts_must_be_different";
      if (t.type === "pending" && t.expiresAtMs !== undefined && t.expiresAtMs <= nowMs) {
        return "expires_at_must_be_in_future";
      }
      debit = t.debitAccountId;
      credit = t.creditAccountId;
      amount = t.amount;
      currency = t.currency;
    } else {
      pending = s.transfers.get(t.pendingId);
      if (!pending) return "pending_transfer_not_found";
      if (pending.type !== "pending") return "pending_transfer_not_pending";
      const resolution = s.resolutions.get(t.pendingId);
      if (resolution === "post_pending") return "pending_transfer_already_posted";
      if (resolution === "void_pending") return "pending_transfer_already_voided";
      if (resolution === "expire_pending") return "pending_transfer_already_expired";
      const expired = pending.expiresAtMs !== undefined && pending.expiresAtMs <= nowMs;
      if (t.type === "expire_pending" && !expired) return "pending_transfer_has_not_expired";
      if (t.type !== "expire_pending" && expired) return "pending_transfer_expired";
      debit = pending.debit;
      credit = pending.credit;
      currency = pending.currency;
      amount = t.type === "post_pending" ? (t.amount ?? pending.amount) : pending.amount;
      if (t.type === "post_pending") {
        if (amount <= 0n) return "amount_must_be_positive";
        if (amount > pending.amount) return "exceeds_pending_transfer_amount";
      }
    }
    const d = this.accounts.get(debit);
    const c = this.accounts.get(credit);
    if (!d) return "debit_account_not_found";
    if (!c) return "credit_account_not_found";
    if (d.merchantId !== c.merchantId || d.mode !== c.mode) return "accounts_must_share_ledger";
    if (d.currency !== currency || c.currency !== currency) return "currency_mismatch";

    const db = { ...(s.balances.get(debit) ?? zeroBalance()) };
    const cb = { ...(s.balances.get(credit) ?? zeroBalance()) };
    switch (t.type) {
      case "single_phase":
        db.debitsPosted += amount;
        cb.creditsPosted += amount;
        break;
      case "pending":
        db.debitsPending += amount;
        cb.creditsPending += amount;
        break;
      case "post_pending":
        db.debitsPending -= pending!.amount;
        cb.creditsPending -= pending!.amount;
        db.debitsPosted += amount;
        cb.creditsPosted += amount;
        break;
      default:
        db.debitsPending -= pending!.amount;
        cb.creditsPending -= pending!.amount;
    }
    for (const [account, b] of [
      [d, db],
      [c, cb],
    ] as const) {
      const broken = limitBroken(account, b);
      if (broken) return broken;
    }
    s.balances.set(debit, db);
    s.balances.set(credit, cb);
    if (!isMove(t)) s.resolutions.set(t.pendingId, t.type);
    const stored: Stored = {
      input: t,
      type: t.type,
      debit,
      credit,
      amount,
      currency,
      expiresAtMs: t.type === "pending" ? t.expiresAtMs : undefined,
    };
    s.transfers.set(t.id, stored);
    added.push(stored);
    return "ok";
  }
}

/** The limit rules, stated once: a wallet may not spend more than it has posted to it. */
export function limitBroken(
  account: ModelAccount,
  b: ModelBalance,
): "exceeds_credits" | "exceeds_debits" | null {
  if (account.debitsMustNotExceedCredits && b.debitsPosted + b.debitsPending > b.creditsPosted) {
    return "exceeds_credits";
  }
  if (account.creditsMustNotExceedDebits && b.creditsPosted + b.creditsPending > b.debitsPosted) {
    return "exceeds_debits";
  }
  return null;
}

/** Replays compare what the caller asked for, field by field. */
function sameAs(stored: Stored, b: TransferInput): boolean {
  const a = stored.input;
  if (a.type !== b.type || a.journalId !== b.journalId || a.code !== b.code) return false;
  if ((a.reference ?? null) !== (b.reference ?? null)) return false;
  if (isMove(a)) {
    const m = b as typeof a;
    return (
      a.debitAccountId === m.debitAccountId &&
      a.creditAccountId === m.creditAccountId &&
      a.amount === m.amount &&
      a.currency === m.currency &&
      (a.type !== "pending" || a.expiresAtMs === m.expiresAtMs)
    );
  }
  const r = b as ResolveInput;
  if (a.pendingId !== r.pendingId) return false;
  // A post without an amount posts the whole pending amount; a replay naming that amount is the same.
  return a.type !== "post_pending" || r.amount === undefined || r.amount === stored.amount;
}

// ---------------------------------------------------------------------------------------------
// Workload generation: abstract operations, made concrete against the history of the run.

export interface AccountShape {
  merchant: 0 | 1;
  mode: Mode;
  currency: (typeof CURRENCIES)[number];
  limit: "none" | "debits" | "credits";
}

export const accountShapeArb: fc.Arbitrary<AccountShape> = fc.record({
  merchant: fc.constantFrom<0 | 1>(0, 0, 0, 0, 1),
  mode: fc.constantFrom<Mode>("test", "test", "test", "live"),
  currency: fc.constantFrom<(typeof CURRENCIES)[number]>("EUR", "EUR", "EUR", "USD"),
  limit: fc.constantFrom<AccountShape["limit"]>("none", "none", "debits", "debits", "credits"),
});

export function accountSpec(
  shape: AccountShape,
  merchants: readonly [string, string],
  n: number,
): AccountSpec {
  return {
    merchantId: merchants[shape.merchant],
    mode: shape.mode,
    ownerId: `owner_${n}`,
    purpose: shape.limit === "debits" ? "wallet" : shape.limit === "credits" ? "asset" : "available",
    currency: shape.currency,
    debitsMustNotExceedCredits: shape.limit === "debits",
    creditsMustNotExceedDebits: shape.limit === "credits",
  };
}

export type Op =
  | {
      kind: "move";
      type: "single_phase" | "pending";
      debit: number;
      credit: number;
      amount: bigint;
      /** Usually the debit account's currency; sometimes another one. */
      currency: "debit" | "credit" | (typeof CURRENCIES)[number];
      /** Pending only: no expiry, already past, or this many ms ahead. */
      expiry: "none" | "past" | number;
      /** Reuse an id from the pool instead of a fresh one. */
      poolId: number | null;
    }
  | {
      kind: "resolve";
      type: "post_pending" | "void_pending" | "expire_pending";
      /** Which earlier pending (or, sometimes, any earlier transfer or an unknown id). */
      target: number;
      targetKind: "pending" | "again" | "any" | "unknown";
      amount: bigint | undefined;
      poolId: number | null;
    }
  | { kind: "replay"; which: number; change: "none" | "amount" | "code" };

const amountArb = fc.oneof(
  { weight: 10, arbitrary: fc.bigInt({ min: 1n, max: 60n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: -5n, max: 0n }) },
);

export const opArb = (accountCount: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant("move" as const),
        type: fc.constantFrom("single_phase" as const, "pending" as const),
        debit: fc.nat({ max: accountCount - 1 }),
        credit: fc.nat({ max: accountCount - 1 }),
        amount: amountArb,
        currency: fc.constantFrom<"debit" | "credit" | "EUR" | "USD">(
          "debit",
          "debit",
          "debit",
          "debit",
          "credit",
          "EUR",
          "USD",
        ),
        expiry: fc.oneof(
          { weight: 3, arbitrary: fc.constant<"none">("none") },
          { weight: 1, arbitrary: fc.constant<"past">("past") },
          { weight: 3, arbitrary: fc.integer({ min: 1, max: 250 }) },
        ),
        poolId: fc.option(fc.nat({ max: 5 }), { freq: 8 }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("resolve" as const),
        type: fc.constantFrom(
          "post_pending" as const,
          "post_pending" as const,
          "void_pending" as const,
          "expire_pending" as const,
          "expire_pending" as const,
        ),
        target: fc.nat({ max: 40 }),
        targetKind: fc.constantFrom<"pending" | "again" | "any" | "unknown">(
          "pending",
          "pending",
          "pending",
          "pending",
          "again",
          "again",
          "any",
          "unknown",
        ),
        amount: fc.option(fc.bigInt({ min: 0n, max: 70n }), { freq: 2 }).map((a) => a ?? undefined),
        poolId: fc.option(fc.nat({ max: 5 }), { freq: 8 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("replay" as const),
        which: fc.nat({ max: 40 }),
        change: fc.constantFrom<"none" | "amount" | "code">("none", "none", "amount", "code"),
      }),
    },
  );

export interface BatchShape {
  /** Journals of this batch, each a list of operations. */
  journals: Op[][];
  advanceMs: number;
  slot: number | undefined;
}

export const batchArb = (accountCount: number): fc.Arbitrary<BatchShape> =>
  fc.record({
    journals: fc.array(fc.array(opArb(accountCount), { minLength: 1, maxLength: 3 }), {
      minLength: 1,
      maxLength: 4,
    }),
    advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 120 }), fc.integer({ min: 100, max: 300 })),
    slot: fc.option(fc.nat({ max: 15 }), { freq: 2 }).map((s) => s ?? undefined),
  });

/** Turns abstract operations into transfer inputs, remembering what was generated so far. */
export class Materializer {
  private readonly history: TransferInput[] = [];
  private readonly pendingIds: string[] = [];
  /** Pending transfers a resolve has named, so that later resolves can try them again. */
  private readonly resolvedIds: string[] = [];
  private counter = 0;

  constructor(
    private readonly prefix: string,
    private readonly accounts: readonly ModelAccount[],
  ) {}

  private freshId(poolId: number | null): string {
    return poolId === null ? `${this.prefix}tr_${this.counter++}` : `${this.prefix}tr_pool_${poolId}`;
  }

  batch(shape: BatchShape, nowMs: number): TransferInput[] {
    const out: TransferInput[] = [];
    for (const journal of shape.journals) {
      const journalId = `${this.prefix}jrn_${this.counter++}`;
      for (const op of journal) out.push(this.one(op, journalId, nowMs));
    }
    return out;
  }

  private one(op: Op, journalId: string, nowMs: number): TransferInput {
    let input: TransferInput;
    if (op.kind === "move") {
      const debit = this.accounts[op.debit]!;
      const credit = this.accounts[op.credit]!;
      const currency =
        op.currency === "debit" ? debit.currency : op.currency === "credit" ? credit.currency : op.currency;
      input = {
        id: this.freshId(op.poolId),
        journalId,
        code: "test_move",
        type: op.type,
        debitAccountId: debit.id,
        creditAccountId: credit.id,
        amount: op.amount,
        currency,
        ...(op.type === "pending" && op.expiry !== "none"
          ? { expiresAtMs: op.expiry === "past" ? nowMs : nowMs + op.expiry }
          : {}),
      };
      if (op.type === "pending") this.pendingIds.push(input.id);
    } else if (op.kind === "resolve") {
      let pendingId: string;
      if (op.targetKind === "unknown" || this.history.length === 0) pendingId = `${this.prefix}tr_unknown`;
      else if (op.targetKind === "again" && this.resolvedIds.length > 0) {
        pendingId = this.resolvedIds[op.target % this.resolvedIds.length]!;
      } else if (op.targetKind === "any" || this.pendingIds.length === 0) {
        pendingId = this.history[op.target % this.history.length]!.id;
      } else {
        // Favour recent pending transfers, so holds are resolved while they are still live.
        const recent = this.pendingIds.slice(-6);
        pendingId = recent[op.target % recent.length]!;
      }
      this.resolvedIds.push(pendingId);
      input = {
        id: this.freshId(op.poolId),
        journalId,
        code: "test_resolve",
        type: op.type,
        pendingId,
        ...(op.type === "post_pending" && op.amount !== undefined ? { amount: op.amount } : {}),
      };
    } else {
      const earlier = this.history[op.which % Math.max(1, this.history.length)];
      if (!earlier)
        return this.one(
          {
            kind: "resolve",
            type: "void_pending",
            target: 0,
            targetKind: "unknown",
            amount: undefined,
            poolId: null,
          },
          journalId,
          nowMs,
        );
      input = { ...earlier };
      if (op.change === "code") input.code = `${input.code}_changed`;
      if (op.change === "amount") {
        if (input.type === "single_phase" || input.type === "pending") input.amount = input.amount + 1n;
        else if (input.type === "post_pending") input.amount = (input.amount ?? 0n) + 1n;
        else input.code = `${input.code}_changed`;
      }
      // A replay keeps its original journal, as a retried request would.
    }
    this.history.push(input);
    return input;
  }
}
