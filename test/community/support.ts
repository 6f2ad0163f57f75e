import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import type { Db } from "../../src/db/db.ts";
import { call, type MerchantKeys } from "../support/app.ts";

/** Helpers shared by the community tests: customers, currencies, rates, and the ledger's balance. */
export async function customer(app: FastifyInstance, m: MerchantKeys, extra: Record<string, unknown> = {}) {
  const r = await call<{ id: string }>(app, "POST", "/v1/customers", { key: m.secretKey, body: extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

export async function innerCurrency(app: FastifyInstance, m: MerchantKeys, code: string, minorDigits = 0) {
  const r = await call(app, "POST", "/v1/currencies", {
    key: m.secretKey,
    body: { code, name: code.toLowerCase(), minor_digits: minorDigits },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

export async function rate(app: FastifyInstance, m: MerchantKeys, from: string, to: string, value: string) {
  const r = await call(app, "POST", "/v1/exchange_rates", {
    key: m.secretKey,
    body: { from, to, rate: value },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

export interface WalletView {
  currency: string;
  balance: number;
  grants: { id: string; category: string; remaining: number; amount: number }[];
}

export async function wallet(app: FastifyInstance, m: MerchantKeys, customerId: string, currency: string) {
  const r = await call<{ data: WalletView[] }>(app, "GET", `/v1/customers/${customerId}/wallets`, {
    key: m.secretKey,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data.find((w) => w.currency === currency) ?? { currency, balance: 0, grants: [] };
}

/** Every journal balances per currency, and no wallet account is below zero (checked in SQL). */
export async function assertLedgerSound(db: Db) {
  const { rows: journals } = await db.query<{ journal_id: string; currency: string }>(
    `select journal_id, currency from ledger_transfers t
     group by journal_id, currency
     having sum(case when type in ('single_phase', 'pending') then amount else 0 end) < 0`,
  );
  assert.deepEqual(journals, []);
  const { rows: perCurrency } = await db.query<{ currency: string; debits: bigint; credits: bigint }>(
    `select a.currency, sum(b.debits_posted)::bigint as debits, sum(b.credits_posted)::bigint as credits
     from ledger_balances b join ledger_accounts a on a.id = b.account_id group by a.currency`,
  );
  for (const row of perCurrency) assert.equal(row.debits, row.credits, `trial balance of ${row.currency}`);
  const { rows: overdrawn } = await db.query<{ id: string }>(
    `select a.id from ledger_accounts a join ledger_balances b on b.account_id = a.id
     where a.debits_must_not_exceed_credits group by a.id
     having sum(b.debits_posted + b.debits_pending) > sum(b.credits_posted)`,
  );
  assert.deepEqual(overdrawn, []);
  // The ledger agrees with the grants: each wallet account holds what its customer's grants say.
  const { rows: mismatched } = await db.query<{ owner_id: string }>(
    `with ledger as (
       select a.owner_id, a.currency, a.purpose, sum(b.credits_posted - b.debits_posted - b.debits_pending)::bigint as held
       from ledger_accounts a join ledger_balances b on b.account_id = a.id
       where a.purpose in ('wallet_paid', 'wallet_promotional') group by 1, 2, 3),
     grants as (
       select customer_id, currency, 'wallet_' || category as purpose, sum(remaining)::bigint as remaining
       from wallet_grants group by 1, 2, 3)
     select l.owner_id from ledger l left join grants g
       on g.customer_id = l.owner_id and g.currency = l.currency and g.purpose = l.purpose
     where l.held <> coalesce(g.remaining, 0)`,
  );
  assert.deepEqual(mismatched, []);
}
