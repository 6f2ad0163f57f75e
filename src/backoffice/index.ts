/**
 * The back office: the access rules and audit hooks of the API, its own JSON routes (staff,
 * roles, approvals, audit log) and the staff's web pages under /admin.
 */
import type { FastifyInstance } from "fastify";
import { ensureAuditPartitions } from "../audit/index.ts";
import { registerBackOfficeActions } from "./actions.ts";
import { registerCatalogPages } from "./catalog.ts";
import type { BackOfficeServices, ScreenServices } from "./context.ts";
import { registerCustomerPages } from "./customers.ts";
import { installAccessHooks } from "./hooks.ts";
import { addAdminNavigation } from "./pages.ts";
import { registerSubscriptionPages } from "./subscriptions.ts";

export { type AdminListener, startAdminListener } from "./certificates.ts";
export type { BackOfficeServices, ScreenServices } from "./context.ts";
export { API_ROUTES, authenticateBearer } from "./hooks.ts";
export { opsPages } from "./ops.ts";
export { addAdminNavigation, adminPage, backOfficePages, type StaffPageContext, scopeOf } from "./pages.ts";
export { backOfficeRoutes } from "./routes.ts";
export { voucherRangePages } from "./voucher-ranges.ts";

/** Hooks (permissions, four-eyes, audit) on the whole app; call before registering surfaces. */
export function installBackOffice(app: FastifyInstance, services: BackOfficeServices): void {
  registerBackOfficeActions(services);
  installAccessHooks(app, services);
  app.addHook("onReady", async () => {
    await ensureAuditPartitions(services.db, services.clock.nowMs());
  });
}

/** Customers, subscriptions and the catalog under /admin (an `extra` of `backOfficePages`). */
export function customerScreens(deps: ScreenServices) {
  // After Payments, in the order of pages.md: Customers, Subscriptions, Catalog.
  addAdminNavigation(
    { key: "nav.customers", href: "/admin/customers", permission: "customer:read" },
    "/admin/payments",
  );
  addAdminNavigation(
    { key: "nav.subscriptions", href: "/admin/subscriptions", permission: "subscription:read" },
    "/admin/customers",
  );
  addAdminNavigation(
    { key: "nav.catalog", href: "/admin/catalog", permission: "catalog:read" },
    "/admin/subscriptions",
  );
  return (pages: FastifyInstance) => {
    registerCustomerPages(pages, deps);
    registerSubscriptionPages(pages, deps);
    registerCatalogPages(pages, deps);
  };
}
