import type { ListParams } from "../db/pages.ts";
import { listPage } from "../db/pages.ts";
import type { EventRow } from "../events/index.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { PaymentsContext } from "./context.ts";
import {
  type PaymentRow,
  type PaymentStatus,
  presentPayment,
  presentRefund,
  type RefundRow,
} from "./model.ts";

export async function getPayment(ctx: PaymentsContext, scope: AuthScope, id: string): Promise<PaymentRow> {
  const { rows } = await ctx.db.query<PaymentRow>(
    "select * from payments where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  if (!rows[0]) throw new ApiError("resource_missing", "id", `No such payment: '${id}'.`);
  return rows[0];
}

export async function listPayments(
  ctx: PaymentsContext,
  scope: AuthScope,
  filters: { status?: PaymentStatus; customer?: string; subscription?: string },
  list: ListParams,
) {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  if (filters.status) {
    params.push(filters.status);
    where.push(`status = $${params.length}`);
  }
  if (filters.customer) {
    params.push(filters.customer);
    where.push(`customer_id = $${params.length}`);
  }
  if (filters.subscription) {
    params.push(filters.subscription);
    where.push(`subscription_id = $${params.length}`);
  }
  const page = await listPage<PaymentRow>(ctx.db, "payments", where, params, list);
  return { rows: page.rows.map(presentPayment), hasMore: page.hasMore };
}

export async function getRefund(ctx: PaymentsContext, scope: AuthScope, id: string) {
  const { rows } = await ctx.db.query<RefundRow>(
    "select * from refunds where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  if (!rows[0]) throw new ApiError("resource_missing", "id", `No such refund: '${id}'.`);
  return presentRefund(rows[0]);
}

export async function listRefunds(
  ctx: PaymentsContext,
  scope: AuthScope,
  filters: { payment?: string },
  list: ListParams,
) {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  if (filters.payment) {
    params.push(filters.payment);
    where.push(`payment_id = $${params.length}`);
  }
  const page = await listPage<RefundRow>(ctx.db, "refunds", where, params, list);
  return { rows: page.rows.map(presentRefund), hasMore: page.hasMore };
}

/** A row of the append-only interaction log. */
export interface InteractionRow {
  id: string;
  merchant_id: string | null;
  mode: string | null;
  payment_id: string | null;
  refund_id: string | null;
  provider: string;
  operator: string | null;
  msisdn: string | null;
  operation: string;
  attempt_id: string | null;
  request: unknown;
  response: unknown;
  outcome: string;
  latency_ms: number;
  created: Date;
  /** The bodies are staged or archived (rows written before the archive keep them inline). */
  has_body: boolean | null;
}

/** Every state change and every provider interaction of a payment (and its refunds), in order. */
export async function paymentTimeline(ctx: PaymentsContext, scope: AuthScope, id: string) {
  const payment = await getPayment(ctx, scope, id);
  const [events, interactions] = await Promise.all([
    // The payment's own events through events_object, the others naming it through
    // events_payment_not_object (migration 0355).
    ctx.db.query<EventRow>(
      `select * from events where payment_id = $1 and merchant_id = $2
         and (object_id = $1 or payment_id <> object_id) order by id`,
      [id, scope.merchantId],
    ),
    ctx.db
      .query<InteractionRow>(
        "select * from provider_interactions where payment_id = $1 and merchant_id = $2 order by id",
        [id, scope.merchantId],
      )
      .then((result) => ctx.archive.attachBodies(ctx.db, result.rows))
      .then((rows) => ({ rows })),
  ]);
  const entries = [
    ...events.rows.map((e) => ({
      sort: e.created.getTime(),
      id: e.id,
      entry: {
        type: "state_change" as const,
        at: iso(e.created.getTime()),
        event: e.type,
        event_id: e.id,
        object_id: e.object_id,
        status: (e.data.object as { status?: string }).status ?? null,
      },
    })),
    ...interactions.rows.map((i) => ({
      sort: i.created.getTime(),
      id: i.id,
      entry: {
        type: "provider_interaction" as const,
        at: iso(i.created.getTime()),
        provider: i.provider,
        operation: i.operation,
        attempt_id: i.attempt_id,
        refund: i.refund_id,
        request: i.request,
        response: i.response,
        outcome: i.outcome,
        latency_ms: i.latency_ms,
      },
    })),
  ];
  // At one instant: the object is created, the provider answers, then the state changes it caused.
  const rank = (e: (typeof entries)[number]) =>
    e.entry.type === "provider_interaction" ? 1 : e.entry.event.endsWith(".created") ? 0 : 2;
  entries.sort((a, b) => a.sort - b.sort || rank(a) - rank(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    object: "payment_timeline",
    payment: presentPayment(payment).id,
    data: entries.map((e) => e.entry),
  };
}
