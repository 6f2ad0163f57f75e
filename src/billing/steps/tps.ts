import type { Queryable } from "../../db/db.ts";
import { type BillingContext, OPERATOR_SECOND_SHARDS } from "../context.ts";
import type { CapUsage } from "./caps.ts";
import type { Planned } from "./types.ts";

/** Shard `shard`'s part of a budget of `tps`: the parts add up to exactly `tps`. */
export function shardBudget(tps: number, shard: number): number {
  return Math.floor(tps / OPERATOR_SECOND_SHARDS) + (shard < tps % OPERATOR_SECOND_SHARDS ? 1 : 0);
}

/**
 * Step 4: no operator gets more than its TPS in any second. A batch locks the shard rows of
 * `billing_operator_seconds` it needs that no other worker holds (SKIP LOCKED), takes what their
 * budgets allow, and defers the rest to the next second(s), giving back their cap reservations.
 *
 * It locks only as many shards as its charges need, starting from this worker's own offset, and
 * more only when those fall short: concurrent workers then hold different shards of the same
 * operators. Locking every shard of every operator in the batch made a second worker find all of
 * them held and defer its whole batch, so two workers charged no faster than one.
 */
export async function allocateOperatorSeconds(
  ctx: BillingContext,
  tx: Queryable,
  planned: readonly Planned[],
  usage: CapUsage,
  nowMs: number,
): Promise<Planned[]> {
  const byOperator = new Map<string, number[]>();
  planned.forEach(({ item, plan }, index) => {
    if (plan.kind !== "charge" || !item.sub.operator) return;
    const list = byOperator.get(item.sub.operator) ?? [];
    list.push(index);
    byOperator.set(item.sub.operator, list);
  });
  if (byOperator.size === 0) return [...planned];
  const second = Math.floor(nowMs / 1000);
  const operators = [...byOperator.keys()].sort();
  const tpsOf = (operator: string) => planned[byOperator.get(operator)![0]!]!.item.rules.tps_max;
  const known = ctx.caches.operatorRows;
  const unknown = operators.filter((o) => !known.has(o));
  if (unknown.length > 0) {
    await tx.query(
      `insert into billing_operator_seconds (operator, shard, second)
       select o, s, 0 from unnest($1::text[]) as o, unnest($2::smallint[]) as s
       on conflict (operator, shard) do nothing`,
      [unknown, Array.from({ length: OPERATOR_SECOND_SHARDS }, (_, i) => i)],
    );
  }
  for (const o of unknown) known.add(o);

  // Shards another worker holds right now are skipped, not waited for: a lone worker gets the
  // whole budget, concurrent ones share it, and an operator with no free shard waits a second.
  const held = new Map<string, { shard: number; used: number }[]>();
  const lock = async (wanted: Array<{ operator: string; shard: number }>) => {
    if (wanted.length === 0) return;
    const { rows } = await tx.query<{
      operator: string;
      shard: number;
      second: string | number;
      used: number;
    }>(
      `select o.operator, o.shard, o.second, o.used from billing_operator_seconds o
        join unnest($1::text[], $2::smallint[]) as w (operator, shard)
          on o.operator = w.operator and o.shard = w.shard
        order by o.operator, o.shard for update of o skip locked`,
      [wanted.map((w) => w.operator), wanted.map((w) => w.shard)],
    );
    for (const r of rows) {
      const list = held.get(r.operator) ?? [];
      // A counter from an earlier second starts again at zero.
      list.push({ shard: r.shard, used: Number(r.second) === second ? r.used : 0 });
      held.set(r.operator, list);
    }
  };
  const offset = ctx.caches.shardOffset;
  const shardsFrom = (first: number, count: number) =>
    Array.from({ length: count }, (_, k) => (offset + first + k) % OPERATOR_SECOND_SHARDS);
  // 1. The shards each operator's charges need, from this worker's offset on.
  const first = new Map<string, number>();
  for (const operator of operators) {
    const perShard = Math.max(1, Math.floor(tpsOf(operator) / OPERATOR_SECOND_SHARDS));
    first.set(
      operator,
      Math.min(OPERATOR_SECOND_SHARDS, Math.ceil(byOperator.get(operator)!.length / perShard)),
    );
  }
  await lock(
    operators.flatMap((operator) =>
      shardsFrom(0, first.get(operator)!).map((shard) => ({ operator, shard })),
    ),
  );
  // 2. Operators still short (shards held elsewhere, or used up this second): the other shards.
  const short = operators.filter(
    (operator) => budgetLeft(held.get(operator), tpsOf(operator)) < byOperator.get(operator)!.length,
  );
  await lock(
    short.flatMap((operator) =>
      shardsFrom(first.get(operator)!, OPERATOR_SECOND_SHARDS - first.get(operator)!).map((shard) => ({
        operator,
        shard,
      })),
    ),
  );

  const out = [...planned];
  const after: { operator: string; shard: number; used: number }[] = [];
  for (const operator of operators) {
    const indexes = byOperator.get(operator)!;
    const tps = tpsOf(operator);
    let granted = 0;
    for (const s of held.get(operator) ?? []) {
      const take = Math.min(Math.max(0, shardBudget(tps, s.shard) - s.used), indexes.length - granted);
      if (take <= 0) continue;
      granted += take;
      after.push({ operator, shard: s.shard, used: s.used + take });
    }
    indexes.forEach((index, rank) => {
      if (rank < granted) return;
      const { item, plan } = planned[index]!;
      if (plan.kind === "charge") usage.reserve(item, -plan.amount);
      // Over the budget: try again in the next second(s), spread by the operator's TPS.
      const secondsAhead = 1 + Math.floor((rank - granted) / Math.max(1, tps));
      out[index] = {
        item,
        plan: { kind: "defer", run_at_ms: (second + secondsAhead) * 1000, reason: "operator_tps" },
      };
    });
  }
  if (after.length > 0) {
    await tx.query(
      `update billing_operator_seconds o set used = v.used, second = $4
       from unnest($1::text[], $2::smallint[], $3::int[]) as v (operator, shard, used)
       where o.operator = v.operator and o.shard = v.shard and o.operator = any($1::text[])`,
      [after.map((a) => a.operator), after.map((a) => a.shard), after.map((a) => a.used), second],
    );
  }
  return out;
}

/** What the shards held of an operator still allow this second. */
function budgetLeft(shards: readonly { shard: number; used: number }[] | undefined, tps: number): number {
  let left = 0;
  for (const s of shards ?? []) left += Math.max(0, shardBudget(tps, s.shard) - s.used);
  return left;
}
