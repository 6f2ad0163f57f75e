import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import { migrationState } from "../db/migrate.ts";
import { webhookRoutes } from "../events/routes.ts";
import { idempotentTransaction } from "../idempotency/transaction.ts";
import type { AuthContext } from "../merchants/service.ts";
import { ApiError, ERROR_CATALOGUE } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import type { Services } from "../services.ts";
import { assetRoutes, homePage, pagesSurface } from "../web/index.ts";
import { idempotentPost, secretScope } from "./guards.ts";
import { RateLimiter } from "./rate-limit.ts";
import { adminRoutes } from "./routes/admin.ts";
import { apiKeyRoutes } from "./routes/api-keys.ts";
import { billingRoutes } from "./routes/billing.ts";
import { callbackRoutes } from "./routes/callbacks.ts";
import { communityHttpRoutes } from "./routes/community.ts";
import { customerRoutes } from "./routes/customers.ts";
import { interactionRoutes } from "./routes/interactions.ts";
import { ledgerRoutes } from "./routes/ledger.ts";
import { operatorRoutes } from "./routes/operators.ts";
import { paymentRoutes } from "./routes/payments.ts";
import { refundRoutes } from "./routes/refunds.ts";
import { bodyAjv, queryAjv, validationError } from "./validation.ts";

declare module "fastify" {
  interface FastifyRequest {
    auth: AuthContext;
  }
}

export function sendJson(reply: FastifyReply, statusCode: number, body: unknown): FastifyReply {
  return reply
    .code(statusCode)
    .type("application/json; charset=utf-8")
    .send(typeof body === "string" ? body : JSON.stringify(body));
}

function errorFrom(error: FastifyError & { validation?: unknown; validationContext?: string }): ApiError {
  if (error instanceof ApiError) return error;
  if (Array.isArray(error.validation))
    return validationError(error.validation, error.validationContext ?? "body");
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ApiError(
        "body_too_large",
        undefined,
        `The request body is larger than ${LIMITS.body_bytes_max} bytes.`,
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new ApiError("unsupported_media_type");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new ApiError("body_invalid_json");
  }
  if (error.statusCode === 400 && error instanceof SyntaxError) return new ApiError("body_invalid_json");
  return new ApiError("internal_error");
}

/** Builds the HTTP API on top of the services. No socket: tests call `inject()`. */
export async function buildApp(services: Services): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: services.logger as unknown as FastifyBaseLogger,
    // Per-request logs cost more than they tell at thousands of requests a second; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: LIMITS.body_bytes_max,
    return503OnClosing: true,
    requestIdHeader: false,
    genReqId: () => `req_${Math.random().toString(36).slice(2, 12)}`,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  });

  // Bodies are validated without coercion; query strings with it.
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === "body" ? bodyAjv : queryAjv).compile(schema as object),
  );

  // An empty JSON body is an empty object (POST /cancel with a content type and nothing else).
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    const text = (body as string).trim();
    if (text.length === 0) return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ApiError("body_invalid_json"), undefined);
    }
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = errorFrom(error);
    if (apiError.status >= 500) request.log.error({ err: error, url: request.url }, "request failed");
    for (const [name, value] of Object.entries(apiError.headers ?? {})) reply.header(name, value);
    return sendJson(reply, apiError.status, apiError.toBody());
  });
  app.setNotFoundHandler((request, reply) =>
    sendJson(
      reply,
      404,
      new ApiError(
        "route_not_found",
        undefined,
        `Unrecognised request URL (${request.method} ${request.url.split("?")[0]}).`,
      ).toBody(),
    ),
  );

  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    services.metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    services.metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Centime API",
        version: "1.0.0",
        description:
          "Payments for micropayments and subscriptions of digital goods. Amounts are integers in the currency's minor unit. " +
          `Error codes: ${Object.keys(ERROR_CATALOGUE).join(", ")}.`,
      },
      components: {
        securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
        schemas: {
          Error: {
            type: "object",
            properties: {
              error: {
                type: "object",
                required: ["type", "code", "message"],
                properties: {
                  type: {
                    type: "string",
                    enum: [...new Set(Object.values(ERROR_CATALOGUE).map((e) => e.type))],
                  },
                  code: { type: "string", enum: Object.keys(ERROR_CATALOGUE) },
                  message: { type: "string" },
                  param: { type: "string" },
                },
              },
            },
          },
        },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs", staticCSP: true });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  app.get("/health", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/ready", { schema: { hide: true } }, async (_request, reply) => {
    try {
      const state = await migrationState(services.db);
      const ready = state.pending.length === 0;
      return sendJson(reply, ready ? 200 : 503, {
        status: ready ? "ready" : "migrations_pending",
        database: { kind: services.db.kind, reachable: true },
        migrations: { applied: state.applied, pending: state.pending },
      });
    } catch {
      return sendJson(reply, 503, {
        status: "unavailable",
        database: { kind: services.db.kind, reachable: false },
      });
    }
  });
  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) =>
    reply.type(services.metrics.registry.contentType).send(await services.metrics.registry.metrics()),
  );

  await app.register(callbackRoutes(services));

  // Pages for people: shared assets, then each surface of pages in its own encapsulated context.
  await app.register(assetRoutes);
  const pageSecurity = {
    cookieSecret: services.config.sessionSecret,
    secureCookies: (services.config.publicUrl ?? "").startsWith("https:"),
  };
  await app.register(pagesSurface(pageSecurity, homePage));

  const limiter = new RateLimiter(services.config.rateLimitPerSecond, services.config.rateLimitBurst);
  await app.register(
    async (v1) => {
      v1.decorateRequest("auth", undefined as unknown as never);
      v1.addHook("onRequest", async (request: FastifyRequest) => {
        request.auth = await services.merchants.authenticate(request.headers.authorization);
        const subject = request.auth.kind === "admin" ? "admin" : request.auth.keyId;
        const waitMs = limiter.take(subject, services.clock.nowMs());
        if (waitMs > 0) {
          throw new ApiError("rate_limited", undefined, undefined, {
            "Retry-After": String(Math.ceil(waitMs / 1000)),
          });
        }
      });
      // A POST without a body is a POST with an empty object (`/cancel`, `/capture` in full).
      v1.addHook("preValidation", async (request: FastifyRequest) => {
        if (request.method === "POST" && request.body === undefined) request.body = {};
      });
      await v1.register(adminRoutes(services));
      await v1.register(apiKeyRoutes(services));
      await v1.register(customerRoutes(services));
      await v1.register(paymentRoutes(services));
      await v1.register(refundRoutes(services));
      await v1.register(ledgerRoutes(services));
      await v1.register(operatorRoutes(services));
      await v1.register(interactionRoutes(services));
      await v1.register(
        webhookRoutes({
          db: services.db,
          clock: services.clock,
          scope: secretScope,
          idempotentPost: (request, reply, scope, execute) =>
            idempotentPost(services, request, reply, scope, (idempotency) =>
              idempotentTransaction(services.db, services.clock, scope, idempotency, (tx) =>
                execute({ query: tx.query.bind(tx), transaction: (work) => work(tx) }),
              ),
            ),
        }),
      );
      await v1.register(billingRoutes(services));
      await v1.register(communityHttpRoutes(services));
    },
    { prefix: "/v1" },
  );
  return app;
}
