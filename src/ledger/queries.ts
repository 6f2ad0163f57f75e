import type { Queryable } from "../db/db.ts";
import { checkListParams, type ListParams, listPage } from "../db/pages.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
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

/** An entry's id: its transfer's id and its side (`tr_….d` debit, `tr_….c` credit). */
export const ENTRY_ID = /^(tr_[0-9a-z]{26})\.([dc])$/;

/**
 * Entries are the two sides of each transfer (debit first), newest transfer first; with
 * `account`, only that account's side. Pages count entries, not transfers, and a cursor is an
 * entry: a page can end between the two sides of a transfer and the next one starts at the
 * other side. (Before, `limit=1` answered two entries, and `starting_after` the last entry's id
 * answered the same page again: a client paging to the end never got there.)
 */
export async function listEntries(
  q: Queryable,
  scope: AuthScope,
  account: string | undefined,
  list: ListParams,
) {
  const limit = checkListParams(list);
  const ascending = Boolean(list.ending_before);
  const cursorParam = ascending ? "ending_before" : "starting_after";
  const cursorText = list[cursorParam] || undefined;
  let cursor: { transfer: string; side: "d" | "c" } | null = null;
  if (cursorText !== undefined) {
    const match = ENTRY_ID.exec(cursorText);
    if (!match)
      throw new ApiError("parameter_invalid", cursorParam, `${cursorParam} must be a ledger entry's id.`);
    cursor = { transfer: match[1]!, side: match[2] as "d" | "c" };
  }
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  if (account) {
    params.push(account);
    where.push(`(debit_account_id = $${params.length} or credit_account_id = $${params.length})`);
  }
  if (cursor) {
    params.push(cursor.transfer);
    where.push(`id ${ascending ? ">=" : "<="} $${params.length}`);
  }
  // Every transfer gives at least one entry: the cursor's transfer, `limit` more and one to
  // know whether there are more is enough.
  params.push(limit + 2);
  const { rows: transfers } = await q.query<TransferRow>(
    `select * from ledger_transfers where ${where.join(" and ")}
      order by id ${ascending ? "asc" : "desc"} limit $${params.length}`,
    params,
  );
  // The entries in the order this page walks them: newest first with the debit first, or, for
  // `ending_before`, backwards from the cursor.
  const sides = (ascending ? ["c", "d"] : ["d", "c"]) as Array<"d" | "c">;
  const walked: Array<{ transfer: TransferRow; side: "d" | "c" }> = [];
  for (const transfer of transfers) {
    for (const side of sides) {
      const accountId = side === "d" ? transfer.debit_account_id : transfer.credit_account_id;
      if (account && accountId !== account) continue;
      // The cursor's own transfer: only its sides after the cursor in this walk.
      if (cursor && transfer.id === cursor.transfer && sides.indexOf(side) <= sides.indexOf(cursor.side))
        continue;
      walked.push({ transfer, side });
    }
  }
  const page = walked.slice(0, limit);
  if (ascending) page.reverse();
  return {
    rows: page.map(({ transfer, side }) =>
      presentEntry(
        transfer,
        side === "d" ? transfer.debit_account_id : transfer.credit_account_id,
        side === "d" ? "debit" : "credit",
      ),
    ),
    hasMore: walked.length > limit,
  };
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
