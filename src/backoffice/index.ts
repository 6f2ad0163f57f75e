/**
 * The back office: the access rules and audit hooks of the API, its own JSON routes (staff,
 * roles, approvals, audit log) and the staff's web pages under /admin.
 */
import type { FastifyInstance } from "fastify";
import { ensureAuditPartitions } from "../audit/index.ts";
import { registerBackOfficeActions } from "./actions.ts";
import { backOfficeApi } from "./api.ts";
import type { BackOfficeServices } from "./context.ts";
import { installAccessHooks } from "./hooks.ts";

export type { BackOfficeServices } from "./context.ts";
export { API_ROUTES, authenticateRequest } from "./hooks.ts";

/** Hooks (permissions, four-eyes, audit) and routes on the authenticated /v1 API. */
export function installBackOffice(v1: FastifyInstance, services: BackOfficeServices): void {
  registerBackOfficeActions(services);
  installAccessHooks(v1, services);
  v1.register(backOfficeApi(services));
  v1.addHook("onReady", async () => {
    await ensureAuditPartitions(services.db, services.clock.nowMs());
  });
}
