import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { dashboardPages } from "../analytics/pages.ts";
import { analyticsRoutes } from "../analytics/routes.ts";
import {
  authenticateBearer,
  backOfficePages,
  backOfficeRoutes,
  customerScreens,
  installBackOffice,
  opsPages,
  voucherRangePages,
} from "../backoffice/index.ts";
import { billingRoutes } from "../billing/routes.ts";
import {
  CHECKOUT_CATALOGUES,
  checkoutRoutes,
  checkoutSessionCreateRoutes,
  linkKeyRoutes,
} from "../checkout/index.ts";
import { communityHttpRoutes } from "../community/routes.ts";
import { operatorRoutes } from "../connectors/routes.ts";
import { customerRoutes } from "../customers/routes.ts";
import { webhookRoutes } from "../events/routes.ts";
import { ledgerRoutes } from "../ledger/routes.ts";
import { apiKeyRoutes, merchantRoutes } from "../merchants/routes.ts";
import { healthRoutes, installRequestDeadline } from "../ops/index.ts";
import { messageCatcherRoutes, payerApi, refundRequestRoutes } from "../payers/routes.ts";
import {
  callbackRoutes,
  interactionRoutes,
  paymentRoutes,
  refundRoutes,
  unresolvedRoutes,
} from "../payments/routes.ts";
import { PORTAL_CATALOGUES } from "../portal/index.ts";
import { portalPages } from "../portal/pages.ts";
import { reportPages } from "../reports/index.ts";
import { reportRoutes } from "../reports/routes.ts";
import { ensureRiskPartitions } from "../risk/index.ts";
import { platformRiskRoutes, riskRoutes } from "../risk/routes.ts";
import type { Services } from "../services.ts";
import { assetRoutes, homePage, pagesSurface } from "../web/index.ts";
import { sendError } from "./edge.ts";
import { createHost } from "./host.ts";
import { openApiOptions } from "./openapi.ts";
import { RateLimiter } from "./rate-limit.ts";

/**
 * Builds the HTTP API on top of the services. No socket: tests call `inject()`.
 * Each capability's routes live in `src/<capability>/routes.ts` and are registered here, on the
 * surface that decides who may call them (docs/README.md, "Adding routes").
 */
export async function buildApp(services: Services): Promise<FastifyInstance> {
  const { config } = services;
  const { app, surfaces } = createHost({
    logger: services.logger as unknown as FastifyBaseLogger,
    db: services.db,
    clock: services.clock,
    idempotency: services.idempotency,
    authenticate: (authorization) => authenticateBearer(services, authorization),
    rateLimit: { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst },
    authFailureLimit: { perSecond: config.authFailuresPerSecond, burst: config.authFailuresBurst },
    onResponse(request, reply) {
      const route = request.routeOptions.url ?? "unmatched";
      const { metrics } = services;
      metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
      metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    },
  });

  // Permissions, four-eyes and the audit log, over every surface below.
  installBackOffice(app, services);
  installRequestDeadline(app, config.requestDeadlineMs, sendError, () =>
    services.metrics.requestDeadlineExpired.inc(),
  );

  await app.register(swagger, openApiOptions({ serverUrl: config.publicUrl }));
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    staticCSP: true,
    theme: { title: "Centime API" },
    uiConfig: { docExpansion: "none", deepLinking: true, displayOperationId: true, tryItOutEnabled: false },
  });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes({ db: services.db, metrics: services.metrics, role: "api" }));

  // One line per capability and surface.
  await app.register(surfaces.callbacks(callbackRoutes, services.payments));
  await app.register(surfaces.admin(merchantRoutes, services.merchants));
  await app.register(surfaces.secret(apiKeyRoutes, services));
  await app.register(surfaces.secret(customerRoutes, services.customers));
  await app.register(surfaces.secret(unresolvedRoutes, services.payments));
  await app.register(surfaces.secret(paymentRoutes, services.payments));
  await app.register(surfaces.secret(refundRoutes, services.payments));
  await app.register(surfaces.secretOrAdmin(interactionRoutes, services.payments));
  await app.register(surfaces.secret(ledgerRoutes, services.db));
  await app.register(surfaces.secret(operatorRoutes, {}));
  await app.register(surfaces.secret(webhookRoutes, services));
  await app.register(surfaces.secret(billingRoutes, services.billing));
  await app.register(surfaces.secret(riskRoutes, services.risk));
  await app.register(surfaces.admin(platformRiskRoutes, services.risk));
  app.addHook("onReady", async () => {
    await ensureRiskPartitions(services.db, services.clock.nowMs());
  });
  await app.register(surfaces.publishable(checkoutSessionCreateRoutes, services.checkout.ctx));
  await app.register(surfaces.secret(checkoutRoutes, services.checkout.ctx));
  await app.register(surfaces.admin(linkKeyRoutes, services.checkout.ctx));
  await app.register(surfaces.secretOrAdmin(backOfficeRoutes, services));
  await app.register(surfaces.secretOrAdmin(analyticsRoutes, services));
  const reportDeps = {
    readDb: services.readDb,
    clock: services.clock,
    currencies: services.community.currencies,
    voucherBatches: services.community.batches,
  };
  await app.register(surfaces.secretOrAdmin(reportRoutes, reportDeps));
  await app.register(surfaces.secret(refundRequestRoutes, services.payers));
  await app.register(surfaces.secretOrAdmin(messageCatcherRoutes, services.payers));
  // Payers: their own tokens, not merchant keys (src/payers/routes.ts); requests per client
  // address, in buckets of their own sized like the public pages'.
  await app.register(
    payerApi(services.payers, {
      rateLimit: new RateLimiter("per-ip", config.pageRateLimitPerSecond, config.pageRateLimitBurst),
    }),
  );
  await app.register(
    surfaces.secretOrAdmin(communityHttpRoutes, {
      community: services.community,
      db: services.db,
      clock: services.clock,
      approvals: services.approvals,
    }),
  );

  // Pages for people: shared assets, then each surface of pages in its own encapsulated context
  // (src/web/, docs/pages.md).
  await app.register(assetRoutes);
  const pageSecurity = {
    cookieSecret: config.sessionSecret,
    secureCookies: (config.publicUrl ?? "").startsWith("https:"),
  };
  await app.register(pagesSurface(pageSecurity, homePage));
  await app.register(
    pagesSurface(
      {
        ...pageSecurity,
        catalogues: CHECKOUT_CATALOGUES,
        // Public pages: requests per client address, with the IETF RateLimit fields on every answer.
        rateLimit: new RateLimiter("per-ip", config.pageRateLimitPerSecond, config.pageRateLimitBurst),
        clock: services.clock,
      },
      services.checkout.pages,
    ),
  );
  await app.register(services.checkout.embedScript);
  await app.register(
    pagesSurface(
      {
        ...pageSecurity,
        catalogues: PORTAL_CATALOGUES,
        rateLimit: new RateLimiter("per-ip", config.pageRateLimitPerSecond, config.pageRateLimitBurst),
        clock: services.clock,
      },
      portalPages(services.payers, { secureCookies: pageSecurity.secureCookies }),
    ),
  );

  await app.register(
    backOfficePages(services, pageSecurity, [
      dashboardPages(services),
      customerScreens(services),
      ...opsPages(services),
      voucherRangePages(services),
      reportPages(reportDeps),
    ]),
  );
  return app;
}
