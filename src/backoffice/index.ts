/**
 * The back office: the access rules and audit hooks of the API, its own JSON routes (staff,
 * roles, approvals, audit log) and the staff's web pages under /admin.
 */
import type { FastifyInstance } from "fastify";
import { ensureAuditPartitions } from "../audit/index.ts";
import { registerBackOfficeActions } from "./actions.ts";
import type { BackOfficeServices } from "./context.ts";
import { installAccessHooks } from "./hooks.ts";

export { backOfficeRoutes } from "./api.ts";
export { type AdminListener, startAdminListener } from "./certificates.ts";
export type { BackOfficeServices } from "./context.ts";
export { API_ROUTES, authenticateBearer } from "./hooks.ts";
export { opsPages } from "./ops.ts";
export { addAdminNavigation, adminPage, backOfficePages, type StaffPageContext } from "./pages.ts";

/** Hooks (permissions, four-eyes, audit) on the whole app; call before registering surfaces. */
export function installBackOffice(app: FastifyInstance, services: BackOfficeServices): void {
  registerBackOfficeActions(services);
  installAccessHooks(app, services);
  app.addHook("onReady", async () => {
    await ensureAuditPartitions(services.db, services.clock.nowMs());
  });
}
