/**
 * An independent auditor: from the API's own objects (payments with their captured, capturable and
 * refunded amounts, refunds with their statuses) it computes what the merchant's ledger must hold,
 * and compares with the ledger as the API reports it. A balanced trial balance cannot catch a
 * double charge or a wrong amount (both sides move together); this can.
 *
 * It covers payments by card, carrier and sandbox (money between a provider's clearing account and
 * the merchant's available balance). Tests that move money otherwise (wallets, vouchers,
 * commissions) have their own checks.
 */
import assert from "node:assert/strict";

/** GETs a path of the API with the merchant's key and answers the parsed body. */
export type ApiGet = (path: string) => Promise<unknown>;

interface Payment {
  id: string;
  status: string;
  amount: number;
  currency: string;
  amount_captured: number;
  amount_capturable?: number;
  amount_refunded: number;
  payment_method: { type: string };
}

interface Refund {
  id: string;
  payment: string;
  status: string;
  amount: number;
}

interface LedgerAccount {
  owner: string;
  purpose: string;
  currency: string;
  debits_posted: number;
  credits_posted: number;
  debits_pending: number;
  credits_pending: number;
}

async function listAll<T extends { id: string }>(get: ApiGet, path: string): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1_000; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const body = (await get(`${path}${sep}limit=100${cursor ? `&starting_after=${cursor}` : ""}`)) as {
      data: T[];
      has_more: boolean;
    };
    out.push(...body.data);
    if (!body.has_more || body.data.length === 0) return out;
    cursor = body.data.at(-1)!.id;
  }
  throw new Error(`${path}: more than 1,000 pages`);
}

const PROVIDER_OF: Record<string, string> = { sandbox: "sandbox", card: "card", carrier: "carrier" };

function add(map: Map<string, bigint>, key: string, amount: bigint) {
  map.set(key, (map.get(key) ?? 0n) + amount);
}

export interface AuditResult {
  payments: number;
  refunds: number;
  /** Per currency: what the merchant must have available, as computed from the objects. */
  available: Record<string, bigint>;
}

/**
 * Fails with a named difference when the ledger disagrees with the objects. Checks, per payment,
 * that captured ≤ amount and refunded ≤ captured and that the succeeded refunds add up to the
 * refunded amount; per currency, the merchant's available and pending balances; per provider and
 * currency, the clearing account (what the provider owes the merchant for its payers).
 */
export async function auditMerchantBooks(get: ApiGet): Promise<AuditResult> {
  const payments = (await listAll<Payment>(get, "/v1/payments")).filter(
    (p) => p.payment_method.type in PROVIDER_OF,
  );
  const refunds = await listAll<Refund>(get, "/v1/refunds");
  const accounts = await listAll<LedgerAccount & { id: string }>(get, "/v1/ledger/accounts");

  const refundedByPayment = new Map<string, bigint>();
  for (const r of refunds) if (r.status === "succeeded") add(refundedByPayment, r.payment, BigInt(r.amount));

  const available = new Map<string, bigint>();
  const held = new Map<string, bigint>();
  const clearing = new Map<string, bigint>();
  for (const p of payments) {
    const captured = BigInt(p.amount_captured);
    const refunded = BigInt(p.amount_refunded);
    assert.ok(captured <= BigInt(p.amount), `${p.id}: captured ${captured} ≤ amount ${p.amount}`);
    assert.ok(refunded <= captured, `${p.id}: refunded ${refunded} ≤ captured ${captured}`);
    assert.equal(
      refunded,
      refundedByPayment.get(p.id) ?? 0n,
      `${p.id}: the succeeded refunds add up to amount_refunded`,
    );
    if (p.status !== "succeeded")
      assert.equal(captured, 0n, `${p.id}: a ${p.status} payment captured nothing`);
    add(available, p.currency, captured - refunded);
    add(clearing, `${PROVIDER_OF[p.payment_method.type]}/${p.currency}`, captured - refunded);
    if (p.status === "requires_capture") add(held, p.currency, BigInt(p.amount_capturable ?? p.amount));
  }

  const result: AuditResult = {
    payments: payments.length,
    refunds: refunds.length,
    available: Object.fromEntries([...available]),
  };
  for (const a of accounts) {
    if (a.purpose === "available" && !a.owner.startsWith("provider:")) {
      const posted = BigInt(a.credits_posted) - BigInt(a.debits_posted);
      const pending = BigInt(a.credits_pending) - BigInt(a.debits_pending);
      assert.equal(
        posted,
        available.get(a.currency) ?? 0n,
        `available ${a.currency}: ledger vs payments and refunds`,
      );
      assert.equal(
        pending,
        held.get(a.currency) ?? 0n,
        `pending ${a.currency}: ledger vs holds awaiting capture`,
      );
      available.delete(a.currency);
      held.delete(a.currency);
    } else if (a.purpose === "clearing" && a.owner.startsWith("provider:")) {
      const key = `${a.owner.slice("provider:".length)}/${a.currency}`;
      const owed = BigInt(a.debits_posted) - BigInt(a.credits_posted);
      assert.equal(owed, clearing.get(key) ?? 0n, `clearing ${key}: ledger vs what the provider collected`);
      clearing.delete(key);
    }
  }
  // Money the objects say moved must be on some account.
  for (const [currency, amount] of available)
    assert.equal(amount, 0n, `available ${currency}: no ledger account`);
  for (const [key, amount] of clearing) assert.equal(amount, 0n, `clearing ${key}: no ledger account`);

  return result;
}
