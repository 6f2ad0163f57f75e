import type { Queryable } from "../db/db.ts";
import { idFloor } from "../platform/ids.ts";
import type { AuthScope } from "../platform/scope.ts";

/** One currency of a merchant's available balance over [from, to), from posted transfers. */
export interface AccountPeriod {
  currency: string;
  accountId: string;
  /** Posted balance (credits - debits) before `from`. */
  opening: bigint;
  /** Posted movements in the period per transfer code: credits and debits of the account. */
  movements: Array<{ code: string; count: number; credits: bigint; debits: bigint }>;
  /** Posted movements from `to` on (nothing when `to` is still ahead). */
  after: bigint;
  /** The account's posted balance now, from its balance slots (what `GET /v1/balance` shows). */
  balanceNow: bigint;
}

/**
 * The merchant's available balance accounts over a period: one statement per account, read in one
 * SQL statement so that the transfers and the balance slots come from the same snapshot (on a
 * replica too). Transfers are found by time through their time-ordered ids (the account indexes
 * are on (account, id)); only posted amounts count (single-phase transfers and posted holds).
 */
export async function availablePeriods(
  q: Queryable,
  scope: AuthScope,
  fromMs: number,
  toMs: number,
): Promise<AccountPeriod[]> {
  const { rows } = await q.query<{
    account_id: string;
    currency: string;
    part: string;
    code: string;
    n: bigint;
    credits: bigint;
    debits: bigint;
  }>(
    `with accounts as (
       select id, currency from ledger_accounts
       where merchant_id = $1 and mode = $2 and owner_id = $1 and purpose = 'available'
     ), moves as (
       select a.id as account_id, a.currency,
         case when t.id < $3 then 'before' when t.id < $4 then 'during' else 'after' end as part,
         t.code, t.credit_account_id = a.id as credit, t.amount
       from accounts a join ledger_transfers t on t.credit_account_id = a.id
       where t.type in ('single_phase', 'post_pending')
       union all
       select a.id, a.currency,
         case when t.id < $3 then 'before' when t.id < $4 then 'during' else 'after' end,
         t.code, false, t.amount
       from accounts a join ledger_transfers t on t.debit_account_id = a.id
       where t.type in ('single_phase', 'post_pending')
     )
     select account_id, currency, part, code, count(*)::bigint as n,
       coalesce(sum(case when credit then amount else 0 end), 0)::bigint as credits,
       coalesce(sum(case when credit then 0 else amount end), 0)::bigint as debits
     from moves group by account_id, currency, part, code
     union all
     select a.id, a.currency, 'now', '', 0,
       coalesce(sum(b.credits_posted), 0)::bigint, coalesce(sum(b.debits_posted), 0)::bigint
     from accounts a left join ledger_balances b on b.account_id = a.id group by a.id, a.currency`,
    [scope.merchantId, scope.mode, idFloor("tr", fromMs), idFloor("tr", toMs)],
  );
  const periods = new Map<string, AccountPeriod>();
  for (const r of rows) {
    let p = periods.get(r.account_id);
    if (!p) {
      p = {
        currency: r.currency,
        accountId: r.account_id,
        opening: 0n,
        movements: [],
        after: 0n,
        balanceNow: 0n,
      };
      periods.set(r.account_id, p);
    }
    const net = BigInt(r.credits) - BigInt(r.debits);
    if (r.part === "before") p.opening += net;
    else if (r.part === "after") p.after += net;
    else if (r.part === "now") p.balanceNow = net;
    else
      p.movements.push({
        code: r.code,
        count: Number(r.n),
        credits: BigInt(r.credits),
        debits: BigInt(r.debits),
      });
  }
  return [...periods.values()].sort((a, b) => a.currency.localeCompare(b.currency));
}
