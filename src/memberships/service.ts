import type { Db, Queryable } from "../db/db.ts";
import { type EventType, eventRow } from "../events/index.ts";
import { iso } from "../platform/clock.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope, Mode } from "../platform/scope.ts";
import { type MembershipState, prolong, shorten, shortening } from "./periods.ts";

interface EntitlementRow {
  customer_id: string;
  entitlement: string;
  merchant_id: string;
  mode: Mode;
  active_until: Date;
  anchor_at: Date | null;
  run_period: string | null;
  run_count: number;
}

interface EntitlementGrantRow {
  id: string;
  customer_id: string;
  entitlement: string;
  added_ms: bigint;
  removed_ms: bigint;
}

export interface EntitlementGrant {
  entitlement: string;
  period: string;
}

function stateOf(row: EntitlementRow | undefined): MembershipState | null {
  if (!row) return null;
  return {
    activeUntilMs: row.active_until.getTime(),
    anchorMs: row.anchor_at?.getTime() ?? null,
    runPeriod: row.run_period,
    runCount: row.run_count,
  };
}

function presentEntitlement(customer: string, entitlement: string, activeUntilMs: number, nowMs: number) {
  return {
    object: "entitlement" as const,
    customer,
    entitlement,
    active: activeUntilMs > nowMs,
    active_until: iso(activeUntilMs),
  };
}

/**
 * Memberships: what access a customer has and until when. One row per customer and entitlement,
 * so a game server's check is one primary-key read; each prolongation is kept so a refund can
 * take its share back.
 */
export class Memberships {
  constructor(private readonly db: Db) {}

  /** Prolongs access in the caller's transaction and records why (a payment, a voucher). */
  async grant(
    tx: Queryable,
    scope: { merchantId: string; mode: Mode },
    customer: string,
    grant: EntitlementGrant,
    source: { kind: "payment" | "voucher"; id: string },
    nowMs: number,
  ) {
    const { rows } = await tx.query<EntitlementRow & { time_zone: string | null }>(
      `select e.*, c.time_zone from customers c
       left join entitlements e on e.customer_id = c.id and e.entitlement = $2
       where c.id = $1 for update of c`,
      [customer, grant.entitlement],
    );
    const current = rows[0]?.active_until ? stateOf(rows[0]) : null;
    const timeZone = rows[0]?.time_zone ?? "UTC";
    const next = prolong(current, grant.period, timeZone, nowMs);
    await this.write(tx, scope, customer, grant.entitlement, next.state, nowMs);
    await tx.query(
      `insert into entitlement_grants (id, merchant_id, mode, customer_id, entitlement, period, source, source_id, added_ms, created)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        newId("eg", nowMs),
        scope.merchantId,
        scope.mode,
        customer,
        grant.entitlement,
        grant.period,
        source.kind,
        source.id,
        next.addedMs,
        new Date(nowMs),
      ],
    );
    await this.event(
      tx,
      scope,
      "entitlement.granted",
      customer,
      grant.entitlement,
      next.state,
      nowMs,
      source.id,
    );
    return presentEntitlement(customer, grant.entitlement, next.state.activeUntilMs, nowMs);
  }

  /** A refund of `refundedTotal` out of `paid` shortens the access its source added, by its share. */
  async takeBack(
    tx: Queryable,
    scope: { merchantId: string; mode: Mode },
    sourceId: string,
    refundedTotal: bigint,
    paid: bigint,
    nowMs: number,
  ) {
    const { rows: grants } = await tx.query<EntitlementGrantRow>(
      "select * from entitlement_grants where source_id = $1 order by id for update",
      [sourceId],
    );
    const shown = [];
    for (const g of grants) {
      const byMs = shortening(Number(g.added_ms), Number(g.removed_ms), refundedTotal, paid);
      if (byMs === 0) continue;
      const { rows } = await tx.query<EntitlementRow>(
        "select * from entitlements where customer_id = $1 and entitlement = $2 for update",
        [g.customer_id, g.entitlement],
      );
      const current = stateOf(rows[0]);
      if (!current) continue;
      const next = shorten(current, byMs);
      await this.write(tx, scope, g.customer_id, g.entitlement, next, nowMs);
      await tx.query("update entitlement_grants set removed_ms = removed_ms + $2 where id = $1", [
        g.id,
        byMs,
      ]);
      await this.event(
        tx,
        scope,
        "entitlement.shortened",
        g.customer_id,
        g.entitlement,
        next,
        nowMs,
        sourceId,
      );
      shown.push({
        ...presentEntitlement(g.customer_id, g.entitlement, next.activeUntilMs, nowMs),
        removed_ms: byMs,
      });
    }
    return shown;
  }

  private async write(
    tx: Queryable,
    scope: { merchantId: string; mode: Mode },
    customer: string,
    entitlement: string,
    state: MembershipState,
    nowMs: number,
  ) {
    await tx.query(
      `insert into entitlements (customer_id, entitlement, merchant_id, mode, active_until, anchor_at, run_period, run_count, updated)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       on conflict (customer_id, entitlement) do update set active_until = excluded.active_until,
         anchor_at = excluded.anchor_at, run_period = excluded.run_period, run_count = excluded.run_count,
         updated = excluded.updated`,
      [
        customer,
        entitlement,
        scope.merchantId,
        scope.mode,
        new Date(state.activeUntilMs),
        state.anchorMs === null ? null : new Date(state.anchorMs),
        state.runPeriod,
        state.runCount,
        new Date(nowMs),
      ],
    );
  }

  private async event(
    tx: Queryable,
    scope: { merchantId: string; mode: Mode },
    type: EventType,
    customer: string,
    entitlement: string,
    state: MembershipState,
    nowMs: number,
    sourceId: string,
  ) {
    const row = eventRow({
      merchantId: scope.merchantId,
      mode: scope.mode,
      type,
      objectId: customer,
      object: { ...presentEntitlement(customer, entitlement, state.activeUntilMs, nowMs), source: sourceId },
      nowMs,
    });
    await tx.query("insert into events select * from json_populate_recordset(null::events, $1::json)", [
      JSON.stringify([row]),
    ]);
  }

  /** The game server's question: one primary-key range read. */
  async list(scope: AuthScope, customer: string, nowMs: number) {
    const { rows } = await this.db.query<{ entitlement: string; active_until: Date }>(
      "select entitlement, active_until from entitlements where customer_id = $1 and merchant_id = $2 and mode = $3",
      [customer, scope.merchantId, scope.mode],
    );
    return rows.map((r) => presentEntitlement(customer, r.entitlement, r.active_until.getTime(), nowMs));
  }
}
