import type { Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import { iso } from "../platform/clock.ts";
import { toJsonAmount, toJsonSum } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { TransferRow } from "./types.ts";

/** Read models of the ledger for the API. Balances are summed over their slots. */
export async function merchantBalance(q: Queryable, scope: AuthScope) {
  const { rows } = await q.query<{ currency: string; available: bigint; pending: bigint }>(
    `select a.currency,
       coalesce(sum(b.credits_posted - b.debits_posted), 0)::bigint as available,
       coalesce(sum(b.credits_pending - b.debits_pending), 0)::bigint as pending
     from ledger_accounts a join ledger_balances b on b.account_id = a.id
     where a.merchant_id = $1 and a.mode = $2 and a.owner_id = $1 and a.purpose = 'available'
     group by a.currency order by a.currency`,
    [scope.merchantId, scope.mode],
  );
  return {
    object: "balance" as const,
    livemode: scope.mode === "live",
    available: rows.map((r) => ({ currency: r.currency, amount: toJsonSum(r.available) })),
    pending: rows.map((r) => ({ currency: r.currency, amount: toJsonSum(r.pending) })),
  };
}

interface AccountWithBalance {
  id: string;
  owner_id: string;
  purpose: string;
  currency: string;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
  created: Date;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
}

export async function listAccounts(q: Queryable, scope: AuthScope, list: ListParams) {
  const page = await listPage<AccountWithBalance>(
    q,
    `(select a.*, coalesce(sum(b.debits_pending), 0)::bigint as debits_pending,
        coalesce(sum(b.debits_posted), 0)::bigint as debits_posted,
        coalesce(sum(b.credits_pending), 0)::bigint as credits_pending,
        coalesce(sum(b.credits_posted), 0)::bigint as credits_posted
      from ledger_accounts a left join ledger_balances b on b.account_id = a.id
      where a.merchant_id = $1 and a.mode = $2 group by a.id) accounts`,
    ["true"],
    [scope.merchantId, scope.mode],
    list,
  );
  return {
    rows: page.rows.map((a) => ({
      id: a.id,
      object: "ledger_account" as const,
      created: iso(a.created.getTime()),
      owner: a.owner_id,
      purpose: a.purpose,
      currency: a.currency,
      flags: {
        debits_must_not_exceed_credits: a.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits: a.credits_must_not_exceed_debits,
      },
      debits_posted: toJsonSum(a.debits_posted),
      credits_posted: toJsonSum(a.credits_posted),
      debits_pending: toJsonSum(a.debits_pending),
      credits_pending: toJsonSum(a.credits_pending),
    })),
    hasMore: page.hasMore,
  };
}

function presentEntry(t: TransferRow, accountId: string, direction: "debit" | "credit") {
  return {
    id: `${t.id}.${direction === "debit" ? "d" : "c"}`,
    object: "ledger_entry" as const,
    created: iso(t.created.getTime()),
    account: accountId,
    direction,
    amount: toJsonAmount(t.amount),
    currency: t.currency,
    transfer: t.id,
    transfer_type: t.type,
    pending_transfer: t.pending_id,
    journal: t.journal_id,
    code: t.code,
    reference: t.reference,
  };
}

/** Entries are the two sides of each transfer; with `account`, only that account's side. */
export async function listEntries(
  q: Queryable,
  scope: AuthScope,
  account: string | undefined,
  list: ListParams,
) {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  if (account) {
    params.push(account);
    where.push(`(debit_account_id = $3 or credit_account_id = $3)`);
  }
  const page = await listPage<TransferRow>(q, "ledger_transfers", where, params, list);
  const rows = page.rows.flatMap((t) => {
    const sides: Array<ReturnType<typeof presentEntry>> = [];
    if (!account || t.debit_account_id === account) sides.push(presentEntry(t, t.debit_account_id, "debit"));
    if (!account || t.credit_account_id === account)
      sides.push(presentEntry(t, t.credit_account_id, "credit"));
    return sides;
  });
  return { rows, hasMore: page.hasMore };
}

/**
 * Per currency, the sum of all debits and of all credits over the merchant's accounts, posted and
 * pending. Double entry makes each pair equal; a difference would be a bug.
 */
export async function trialBalance(q: Queryable, scope: AuthScope) {
  const { rows } = await q.query<{
    currency: string;
    debits: bigint;
    credits: bigint;
    debits_pending: bigint;
    credits_pending: bigint;
  }>(
    `select a.currency,
       coalesce(sum(b.debits_posted), 0)::bigint as debits, coalesce(sum(b.credits_posted), 0)::bigint as credits,
       coalesce(sum(b.debits_pending), 0)::bigint as debits_pending,
       coalesce(sum(b.credits_pending), 0)::bigint as credits_pending
     from ledger_accounts a join ledger_balances b on b.account_id = a.id
     where a.merchant_id = $1 and a.mode = $2
     group by a.currency order by a.currency`,
    [scope.merchantId, scope.mode],
  );
  return {
    object: "trial_balance" as const,
    livemode: scope.mode === "live",
    data: rows.map((r) => ({
      currency: r.currency,
      debits: toJsonSum(r.debits),
      credits: toJsonSum(r.credits),
      pending_debits: toJsonSum(r.debits_pending),
      pending_credits: toJsonSum(r.credits_pending),
      balanced: r.debits === r.credits && r.debits_pending === r.credits_pending,
    })),
  };
}
