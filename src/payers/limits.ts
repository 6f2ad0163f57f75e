import type { Db, Queryable } from "../db/db.ts";
import type { PayerCharge, PayerLimitsHook, PayerRefusal } from "../payments/index.ts";
import { paymentIdsOf } from "./views.ts";

/**
 * What a payer asked for, as a check before a new charge: a merchant they blocked, a monthly cap
 * per currency (this UTC calendar month's succeeded payments plus the new amount). For the
 * payment path's risk hook to call with the charge's MSISDN or e-mail; pure reads.
 */
export type PayerLimitVerdict =
  | { allowed: true }
  | { allowed: false; reason: "payer_blocked_merchant"; payer: string }
  | { allowed: false; reason: "payer_cap_exceeded"; payer: string; cap: bigint; spent: bigint };

interface PayerLimitRow {
  id: string;
  monthly_caps: Record<string, number | string>;
  blocked: boolean;
}

type LimitInput = {
  merchantId: string;
  mode: string;
  msisdn?: string | null;
  email?: string | null;
  amount: bigint;
  currency: string;
  nowMs: number;
};

/** The accounts holding the charge's confirmed number or address, with their caps and whether they block the merchant. */
async function payersOf(q: Queryable, input: LimitInput): Promise<PayerLimitRow[]> {
  const identities: Array<[string, string]> = [];
  if (input.msisdn) identities.push(["msisdn", input.msisdn]);
  if (input.email) identities.push(["email", input.email.toLowerCase()]);
  if (identities.length === 0) return [];
  const { rows } = await q.query<PayerLimitRow>(
    `select p.id, p.monthly_caps,
            exists (select 1 from payer_merchant_blocks b where b.payer_id = p.id and b.merchant_id = $3) as blocked
       from payer_identities i join payers p on p.id = i.payer_id
      where i.confirmed_at is not null and (i.kind, i.value) in (select * from unnest($1::text[], $2::text[]))`,
    [identities.map((i) => i[0]), identities.map((i) => i[1]), input.merchantId],
  );
  // One account may hold both the number and the address: decided once.
  return [...new Map(rows.map((r) => [r.id, r])).values()];
}

export async function checkPayerLimits(q: Queryable, input: LimitInput): Promise<PayerLimitVerdict> {
  return decide(q, input, await payersOf(q, input));
}

async function decide(q: Queryable, input: LimitInput, payers: PayerLimitRow[]): Promise<PayerLimitVerdict> {
  for (const payer of payers) {
    if (payer.blocked) return { allowed: false, reason: "payer_blocked_merchant", payer: payer.id };
    const capValue = payer.monthly_caps[input.currency];
    if (capValue === undefined) continue;
    const cap = BigInt(capValue);
    const now = new Date(input.nowMs);
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    // Everything the payer's confirmed identities paid this month, at every merchant; a payment
    // still being decided (a provider asked, a PIN awaited) counts in full, so two charges
    // racing the cap cannot both pass.
    const { rows } = await q.query<{ spent: bigint | null }>(
      `select sum(case when status = 'succeeded' then amount_captured - amount_refunded else amount end) as spent
         from payments
        where id = any($1::text[]) and status in ('succeeded', 'processing', 'requires_action')
          and currency = $2 and created >= $3 and mode = $4`,
      [await paymentIdsOf(q, payer.id), input.currency, monthStart, input.mode],
    );
    const spent = BigInt(rows[0]?.spent ?? 0n);
    if (spent + input.amount > cap)
      return { allowed: false, reason: "payer_cap_exceeded", payer: payer.id, cap, spent };
  }
  return { allowed: true };
}

/**
 * The per-payer promise chains, one map per database handle: every PayerLimits over one handle
 * (two app instances in one process, over the embedded database that has no advisory locks)
 * waits on the same chain. Two instances with maps of their own both passed the cap (4 × 300
 * under 1,000 in test/payers/limits-processes.test.ts).
 */
const CHAINS = new WeakMap<Db, Map<string, Promise<unknown>>>();

function chainsOf(db: Db): Map<string, Promise<unknown>> {
  let chains = CHAINS.get(db);
  if (!chains) {
    chains = new Map();
    CHAINS.set(db, chains);
  }
  return chains;
}

/** How many charges of capped payers one process decides at once (each holds a connection). */
const CAPPED_AT_ONCE_MAX = 2;

/**
 * The payment path's hook (PaymentsContext.payerLimits): a blocked merchant is refused at once; a
 * charge of a payer with a cap in its currency is decided while the payer is held, so charges
 * racing one cap are decided one after the other, each seeing the ones before. The hold is a
 * promise chain per payer in this process and, on PostgreSQL, a transaction-scoped advisory lock
 * per payer (other API processes), kept until the payment is durable. Payers without a cap in the
 * currency cost one indexed read and hold nothing.
 */
export class PayerLimits implements PayerLimitsHook {
  private readonly chains: Map<string, Promise<unknown>>;
  private holders = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly db: Db) {
    this.chains = chainsOf(db);
  }

  async guard<T>(charge: PayerCharge, work: (refusal: PayerRefusal | null) => Promise<T>): Promise<T> {
    const payers = await payersOf(this.db, charge);
    const blocked = payers.find((p) => p.blocked);
    if (blocked)
      return work(refusalOf({ allowed: false, reason: "payer_blocked_merchant", payer: blocked.id }));
    const capped = payers.filter((p) => p.monthly_caps[charge.currency] !== undefined).map((p) => p.id);
    if (capped.length === 0) return work(null);
    return this.holding(capped.sort(), async (q) => {
      const verdict = await decide(q, charge, payers);
      return work(verdict.allowed ? null : refusalOf(verdict));
    });
  }

  /** Runs `fn` holding every payer in `ids` (sorted: two holders never wait on each other). */
  private holding<T>(ids: string[], fn: (q: Queryable) => Promise<T>): Promise<T> {
    const before = Promise.all(ids.map((id) => this.chains.get(id)));
    const run = before.then(
      () => this.locked(ids, fn),
      () => this.locked(ids, fn),
    );
    const settled = run.catch(() => undefined);
    for (const id of ids) this.chains.set(id, settled);
    void settled.then(() => {
      for (const id of ids) if (this.chains.get(id) === settled) this.chains.delete(id);
    });
    return run;
  }

  private async locked<T>(ids: string[], fn: (q: Queryable) => Promise<T>): Promise<T> {
    if (this.db.kind !== "postgres") return fn(this.db);
    if (this.holders >= CAPPED_AT_ONCE_MAX) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.holders++;
    try {
      return await this.db.transaction(async (tx) => {
        for (const id of ids)
          await tx.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [`payer_cap:${id}`]);
        // The sums are read outside the lock's transaction: its snapshot must not hide what
        // another process committed while this one waited.
        return fn(this.db);
      });
    } finally {
      this.holders--;
      this.waiting.shift()?.();
    }
  }
}

function refusalOf(verdict: Exclude<PayerLimitVerdict, { allowed: true }>): PayerRefusal {
  return verdict.reason === "payer_blocked_merchant"
    ? { code: "payer_blocked_merchant", message: "The payer has blocked this merchant." }
    : {
        code: "payer_cap_exceeded",
        message: `The payer's monthly spending cap of ${verdict.cap} (minor units) would be passed (${verdict.spent} spent this month).`,
      };
}
