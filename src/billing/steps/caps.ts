import type { Queryable } from "../../db/db.ts";
import type { Usage } from "../engine.ts";
import { localDayKey, localMonthKey } from "../time.ts";
import type { Item, SubscriptionPayment } from "./types.ts";

const keyOf = (customer: string, period: string, currency: string) =>
  `${customer}\u0000${period}\u0000${currency}`;

/**
 * The cap counters of a batch's subscribers (`billing_cap_usage`, per subscriber, local day or
 * month, currency), locked for the batch. Planned charges reserve their amount at once, so two
 * subscriptions of one subscriber cannot pass a cap together; a decline gives it back; an
 * unknown outcome keeps it reserved until settled. Written back as one statement.
 */
export class CapUsage {
  private constructor(
    private readonly loaded: ReadonlyMap<string, bigint>,
    private readonly amounts: Map<string, bigint>,
  ) {}

  /** Creates missing rows and locks all of them in key order (so workers never deadlock). */
  static async lock(
    tx: Queryable,
    items: readonly Item[],
    pending: ReadonlyMap<string, SubscriptionPayment>,
  ): Promise<CapUsage> {
    const keys = new Map<string, [string, string, string]>();
    for (const item of items) {
      if (!item.capped) continue;
      const periods = [item.dayKey, item.monthKey];
      const attempt = item.job.pending_payment_id ? pending.get(item.job.pending_payment_id) : undefined;
      // An attempt made earlier reserved under the day and month it was made in.
      if (attempt) periods.push(...attemptPeriods(item, attempt));
      for (const period of periods) {
        const key = keyOf(item.sub.customer_id, period, item.sub.currency);
        keys.set(key, [item.sub.customer_id, period, item.sub.currency]);
      }
    }
    const loaded = new Map<string, bigint>();
    if (keys.size > 0) {
      const sorted = [...keys.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, k]) => k);
      const { rows } = await tx.query<{
        customer_id: string;
        period_key: string;
        currency: string;
        amount: bigint;
      }>(
        `insert into billing_cap_usage (customer_id, period_key, currency)
         select * from unnest($1::text[], $2::text[], $3::text[])
         on conflict (customer_id, period_key, currency) do update set amount = billing_cap_usage.amount
         returning customer_id, period_key, currency, amount`,
        [sorted.map((k) => k[0]), sorted.map((k) => k[1]), sorted.map((k) => k[2])],
      );
      for (const r of rows) loaded.set(keyOf(r.customer_id, r.period_key, r.currency), r.amount);
    }
    return new CapUsage(loaded, new Map(loaded));
  }

  /** What the subscriber has used (and reserved) today and this month, locally. */
  of(item: Item): Usage {
    if (!item.capped) return { day: 0n, month: 0n };
    return {
      day: this.amounts.get(keyOf(item.sub.customer_id, item.dayKey, item.sub.currency)) ?? 0n,
      month: this.amounts.get(keyOf(item.sub.customer_id, item.monthKey, item.sub.currency)) ?? 0n,
    };
  }

  /** Reserves (or, negative, gives back) an amount under today's and this month's caps. */
  reserve(item: Item, amount: bigint): void {
    if (item.capped) this.adjust(item, [item.dayKey, item.monthKey], amount);
  }

  /** Adds to the counters of given periods (an attempt's own day and month). */
  adjust(item: Item, periods: readonly string[], amount: bigint): void {
    for (const period of periods) {
      const key = keyOf(item.sub.customer_id, period, item.sub.currency);
      this.amounts.set(key, (this.amounts.get(key) ?? 0n) + amount);
    }
  }

  async write(tx: Queryable): Promise<void> {
    const changed = [...this.amounts.entries()].filter(([key, amount]) => this.loaded.get(key) !== amount);
    if (changed.length === 0) return;
    const parts = changed.map(([key]) => key.split("\u0000"));
    await tx.query(
      `update billing_cap_usage u set amount = v.amount
       from unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) as v (customer_id, period_key, currency, amount)
       where u.customer_id = v.customer_id and u.period_key = v.period_key and u.currency = v.currency
         and u.customer_id = any($1::text[])`,
      [
        parts.map((p) => p[0]),
        parts.map((p) => p[1]),
        parts.map((p) => p[2]),
        changed.map(([, a]) => a.toString()),
      ],
    );
  }
}

/** The local day and month an attempt was made in: its amount is reserved under those. */
export function attemptPeriods(item: Item, payment: SubscriptionPayment): [string, string] {
  const atMs = payment.created.getTime();
  return [localDayKey(item.sub.time_zone, atMs), localMonthKey(item.sub.time_zone, atMs)];
}
