import type { FastifyInstance } from "fastify";
import { listSubscriptions } from "../billing/index.ts";
import { formatAddress } from "../customers/index.ts";
import { holds } from "../staff/index.ts";
import type { ScreenServices } from "./context.ts";
import { searchCustomers } from "./customer-search.ts";
import { adminPage, requirePagePermission, scopeOf } from "./pages.ts";
import { searchPayments } from "./search.ts";
import { noticeOf, subscriptionViews } from "./subscriptions.ts";

const PAGE_SIZE = 25;
const RECENT_PAYMENTS = 10;

/** `/admin/customers` (search, paged) and `/admin/customers/:id` (everything support asks about). */
export function registerCustomerPages(pages: FastifyInstance, deps: ScreenServices): void {
  pages.get("/admin/customers", { schema: { hide: true } }, async (request, reply) => {
    const context = requirePagePermission(request, "customer:read");
    const scope = scopeOf(context);
    const query = request.query as { q?: string; after?: string };
    const q = typeof query.q === "string" ? query.q.trim().slice(0, 100) : "";
    const after =
      typeof query.after === "string" && /^cus_[0-9a-z]{1,60}$/.test(query.after) ? query.after : undefined;
    const page = await searchCustomers(deps.db, {
      ...scope,
      ...(q ? { q } : {}),
      ...(after ? { after } : {}),
      limit: PAGE_SIZE,
    });
    const params = (extra: Record<string, string>) =>
      `/admin/customers?${new URLSearchParams({ ...(q ? { q } : {}), ...extra })}`;
    return adminPage(
      reply,
      "backoffice/templates/customers",
      {
        customers: page.rows,
        q,
        next: page.hasMore ? params({ after: page.rows.at(-1)!.id }) : null,
        first: after ? params({}) : null,
      },
      { title: "customers.title" },
    );
  });

  pages.get("/admin/customers/:id", { schema: { hide: true } }, async (request, reply) => {
    const context = requirePagePermission(request, "customer:read");
    const scope = scopeOf(context);
    const id = (request.params as { id: string }).id;
    // Another merchant's customer, or none: the page answers 404 either way.
    const customer = await deps.customers.get(scope, id);
    const nowMs = deps.clock.nowMs();
    const may = {
      subscriptions: holds(context.access, "subscription:read"),
      wallets: holds(context.access, "wallet:read"),
      payments: holds(context.access, "payment:read"),
    };
    const subscriptions = may.subscriptions
      ? await subscriptionViews(
          deps,
          scope,
          context,
          (await listSubscriptions(deps.billing.context, scope, { customer: id }, { limit: 100 })).rows,
        )
      : null;
    const wallets = may.wallets ? await walletViews(deps, scope, id, nowMs) : null;
    const entitlements = may.wallets ? await deps.community.memberships.list(scope, id, nowMs) : null;
    const payments = may.payments
      ? await searchPayments(deps.db, { ...scope, q: id, limit: RECENT_PAYMENTS })
      : null;
    return adminPage(
      reply,
      "backoffice/templates/customer",
      {
        customer,
        name: typeof customer.metadata.name === "string" ? customer.metadata.name : null,
        // Laid out as the address's country writes it, the country named in the reader's language.
        addressLines: (locale: string) => (customer.address ? formatAddress(customer.address, locale) : null),
        subscriptions,
        wallets,
        entitlements,
        payments,
        back: `/admin/customers/${customer.id}`,
        notice: noticeOf(request.query),
      },
      { title: customer.id },
    );
  });
}

/** Balances and grants; an inner currency (wallets) is shown with the digits its merchant gave it. */
async function walletViews(
  deps: ScreenServices,
  scope: { merchantId: string; mode: "live" | "test" },
  customerId: string,
  nowMs: number,
) {
  const wallets = await deps.community.wallets.list(scope, customerId, nowMs);
  return Promise.all(
    wallets.map(async (w) => ({
      ...w,
      digits: /^[A-Z]{3}$/.test(w.currency)
        ? undefined
        : ((await deps.community.currencies.digits(deps.db, scope, w.currency)) ?? 0),
    })),
  );
}
