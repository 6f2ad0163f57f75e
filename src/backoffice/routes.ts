import type { FastifyInstance } from "fastify";
import type { Routes } from "../http/index.ts";
import type { BackOfficeServices } from "./context.ts";
import { approvalRoutes } from "./routes-approvals.ts";
import { auditRoutes } from "./routes-audit.ts";
import { riskReviewRoutes } from "./routes-reviews.ts";
import { staffRoutes } from "./routes-staff.ts";
import { thresholdRoutes } from "./routes-thresholds.ts";

/** The back office's JSON API on the secret-or-admin surface. */
export const backOfficeRoutes: Routes<BackOfficeServices> = (app, services) =>
  backOfficeApi(services)(app as unknown as FastifyInstance);

/** The back office's JSON API: staff, roles, approvals, audit log, ledger adjustments, risk reviews. */
function backOfficeApi(services: BackOfficeServices) {
  return async (app: FastifyInstance) => {
    const tags = ["back office"];
    staffRoutes(app, services, tags);
    approvalRoutes(app, services, tags);
    auditRoutes(app, services, tags);
    thresholdRoutes(app, services, tags);
    riskReviewRoutes(app, services, tags);
  };
}
