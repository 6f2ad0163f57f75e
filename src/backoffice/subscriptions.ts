import type { FastifyInstance } from "fastify";
import { type RequestAudit, recordAfter, runAudited } from "../audit/index.ts";
import {
  cancelSubscription,
  listSubscriptions,
  type SubscriptionStatus,
  setPaused,
} from "../billing/index.ts";
import { ApiError } from "../platform/errors.ts";
import { holds } from "../staff/index.ts";
import type { ScreenServices } from "./context.ts";
import { adminPage, requirePagePermission, type StaffPageContext, scopeOf } from "./pages.ts";

export const SUBSCRIPTION_STATUSES: readonly SubscriptionStatus[] = [
  "active",
  "trialing",
  "past_due",
  "paused",
  "incomplete",
  "canceled",
];
const ACTIONS = ["cancel", "pause", "resume"] as const;
type Action = (typeof ACTIONS)[number];
const DONE: Record<Action, string> = { cancel: "canceled", pause: "paused", resume: "resumed" };
/** Billing periods with a name in the messages; others are shown as the ISO 8601 duration. */
const NAMED_PERIODS = new Set(["P1D", "P1W", "P1M", "P3M", "P1Y"]);
const PAGE_SIZE = 25;

type Scope = ReturnType<typeof scopeOf>;
type Presented = Awaited<ReturnType<typeof listSubscriptions>>["rows"][number];

/** What one subscription's panel shows, and the buttons the viewer's role allows on it. */
export async function subscriptionViews(
  deps: ScreenServices,
  scope: Scope,
  context: StaffPageContext,
  subscriptions: readonly Presented[],
) {
  const ids = [...new Set(subscriptions.map((s) => s.product).filter((p): p is string => p !== null))];
  const { rows } = await deps.db.query<{ id: string; name: string }>(
    "select id, name from products where id = any($1::text[]) and merchant_id = $2 and mode = $3",
    [ids, scope.merchantId, scope.mode],
  );
  const names = new Map(rows.map((r) => [r.id, r.name]));
  const customerIds = [...new Set(subscriptions.map((s) => s.customer))];
  const { rows: customers } = await deps.db.query<{ id: string; label: string | null }>(
    `select id, coalesce(metadata ->> 'name', email, msisdn) as label from customers
     where id = any($1::text[]) and merchant_id = $2 and mode = $3`,
    [customerIds, scope.merchantId, scope.mode],
  );
  const customerLabels = new Map(customers.map((c) => [c.id, c.label ?? c.id]));
  const canWrite = holds(context.access, "subscription:write");
  return subscriptions.map((s) => ({
    id: s.id,
    status: s.status,
    customer: s.customer,
    customerLabel: customerLabels.get(s.customer) ?? s.customer,
    product: (s.product && names.get(s.product)) ?? s.product ?? s.price,
    amount: s.amount,
    currency: s.currency,
    period: s.recurring.period,
    periodKey: periodKeyOf(s.recurring.period),
    nextCharge: s.next_charge_at,
    canceledAt: s.canceled_at,
    actions: canWrite ? actionsFor(s.status) : [],
  }));
}

/** The message that names a period ("{amount} a month"), or null: then the ISO 8601 duration shows. */
export function periodKeyOf(period: string): string | null {
  return NAMED_PERIODS.has(period) ? `period.${period}` : null;
}

function actionsFor(status: string): Action[] {
  const actions: Action[] = [];
  if (["trialing", "active", "past_due"].includes(status)) actions.push("pause");
  if (status === "paused") actions.push("resume");
  if (status !== "canceled") actions.push("cancel");
  return actions;
}

/** Where a button sends the agent back: the customer or the list they pressed it on. */
function backTo(value: unknown): string {
  const text = typeof value === "string" ? value : "";
  return /^\/admin\/(customers\/cus_[0-9a-z]+|subscriptions(\?[\w=&%-]{0,200})?)$/.test(text)
    ? text
    : "/admin/subscriptions";
}

function withNotice(path: string, done: string): string {
  const url = new URL(path, "http://admin.invalid");
  url.searchParams.set("done", done);
  return `${url.pathname}${url.search}`;
}

/**
 * Cancel, pause or resume through billing's own functions (what the API's routes call), recorded
 * in the audit log in the same transaction. The subscription's row is locked while it changes, so
 * a second press of the button finds it already changed: nothing happens twice, and the refusal
 * is recorded as such.
 */
async function act(deps: ScreenServices, context: StaffPageContext, id: string, action: Action) {
  const scope = scopeOf(context);
  const audit: RequestAudit = {
    ...context.audit,
    action: `subscriptions.${action}`,
    changes: action === "cancel" ? { subscription: id, reason: "requested" } : { subscription: id },
    objectHint: id,
  };
  try {
    await runAudited(audit, () =>
      action === "cancel"
        ? cancelSubscription(deps.billing.context, scope, id, "requested", undefined)
        : setPaused(deps.billing.context, scope, id, action === "pause", undefined),
    );
  } catch (error) {
    if (error instanceof ApiError)
      await recordAfter(deps.db, audit, { statusCode: error.status }, deps.clock.nowMs());
    if (error instanceof ApiError && error.code === "subscription_unexpected_state") return "unchanged";
    throw error;
  }
  await recordAfter(deps.db, audit, { statusCode: 200 }, deps.clock.nowMs());
  return DONE[action];
}

const NOTICES = new Set([...Object.values(DONE), "unchanged"]);

export function noticeOf(query: unknown): string | null {
  const done = (query as { done?: unknown }).done;
  return typeof done === "string" && NOTICES.has(done) ? done : null;
}

/** `/admin/subscriptions`: by status, paged; and the buttons' three actions. */
export function registerSubscriptionPages(pages: FastifyInstance, deps: ScreenServices): void {
  pages.get("/admin/subscriptions", { schema: { hide: true } }, async (request, reply) => {
    const context = requirePagePermission(request, "subscription:read");
    const scope = scopeOf(context);
    const query = request.query as { status?: string; after?: string };
    const status = SUBSCRIPTION_STATUSES.find((s) => s === query.status);
    const after =
      typeof query.after === "string" && /^sub_[0-9a-z]{1,60}$/.test(query.after) ? query.after : undefined;
    const page = await listSubscriptions(deps.billing.context, scope, status ? { status } : {}, {
      limit: PAGE_SIZE,
      ...(after ? { starting_after: after } : {}),
    });
    const views = await subscriptionViews(deps, scope, context, page.rows);
    const here = `/admin/subscriptions${status ? `?status=${status}` : ""}`;
    const next = page.hasMore
      ? new URLSearchParams({ ...(status ? { status } : {}), after: views.at(-1)!.id })
      : null;
    return adminPage(
      reply,
      "backoffice/templates/subscriptions",
      {
        subscriptions: views,
        statuses: SUBSCRIPTION_STATUSES,
        status: status ?? "",
        back: here,
        first: after ? here : null,
        next: next ? `/admin/subscriptions?${next}` : null,
        notice: noticeOf(request.query),
      },
      { title: "subscriptions.title" },
    );
  });

  for (const action of ACTIONS) {
    pages.post(`/admin/subscriptions/:id/${action}`, { schema: { hide: true } }, async (request, reply) => {
      const context = requirePagePermission(request, "subscription:write");
      const id = (request.params as { id: string }).id;
      const outcome = await act(deps, context, id, action);
      const back = backTo((request.body as { back?: unknown } | undefined)?.back);
      return reply.redirect(withNotice(back, outcome), 303);
    });
  }
}
