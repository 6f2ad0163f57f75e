import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import type { ValidateFunction } from "ajv";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import type { Db } from "../db/db.ts";
import type { IdempotencyGate } from "../idempotency/index.ts";
import type { AuthContext } from "../merchants/index.ts";
import type { Clock } from "../platform/clock.ts";
import { randomToken } from "../platform/ids.ts";
import { LIMITS } from "../platform/limits.ts";
import { errorFrom, handleClientError, installEdge, sendError } from "./edge.ts";
import { RateLimiter } from "./rate-limit.ts";
import { LazyRequestLogger, writesLevel } from "./request-logger.ts";
import { createSurfaces, type Surfaces, scopeOf } from "./surfaces.ts";
import { bodyAjv, queryAjv } from "./validation.ts";
import { createWrites } from "./writes.ts";

export interface HostOptions {
  logger: FastifyBaseLogger;
  db: Db;
  clock: Clock;
  idempotency: IdempotencyGate;
  authenticate(authorization: string | undefined): Promise<AuthContext>;
  /** Requests per second and burst per API key; 0 turns the limit off. */
  rateLimit: { perSecond: number; burst: number };
  /** Failed authentications per second and burst per client address; 0 turns the limit off. */
  authFailureLimit: { perSecond: number; burst: number };
  /** Called once per finished request (metrics). */
  onResponse?(request: FastifyRequest, reply: FastifyReply): void;
}

export interface RegisteredRoute {
  method: string;
  url: string;
  hidden: boolean;
}

const ROUTE_TABLES = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route registered on a host, HEAD included (tests walk it to check the document). */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return ROUTE_TABLES.get(app) ?? [];
}

/** `/v1/payments/:id/refunds` → a pattern matching one path segment for each parameter. */
function routePattern(url: string): RegExp {
  const segments = url
    .split("/")
    .map((segment) =>
      segment.startsWith(":")
        ? "[^/]+"
        : segment === "*"
          ? ".*"
          : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    );
  return new RegExp(`^${segments.join("/")}/?$`);
}

const PATTERNS = new WeakMap<RegisteredRoute, RegExp>();

/** The methods some route takes at this path (for 405's Allow header); a miss is rare, so a scan. */
function methodsAt(routes: readonly RegisteredRoute[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    let pattern = PATTERNS.get(route);
    if (!pattern) {
      pattern = routePattern(route.url);
      PATTERNS.set(route, pattern);
    }
    if (pattern.test(path)) methods.add(route.method);
  }
  return [...methods].sort();
}

const VALIDATORS = new WeakMap<FastifyInstance, Array<() => void>>();

/** Compiles every validator of a host now (they compile on first use): a bad schema throws here. */
export function validatorsCompiled(app: FastifyInstance): number {
  const validators = VALIDATORS.get(app) ?? [];
  for (const compile of validators) compile();
  return validators.length;
}

/**
 * An Ajv validator compiled on its first call. Fastify reads `errors` from the function it was
 * given, and passes the parent object (so that Ajv may replace a coerced root value) only to a
 * function with `schemaEnv`, as Ajv's own have.
 */
function lazyValidator(compile: () => ValidateFunction): { validate: ValidateFunction; compile: () => void } {
  let compiled: ValidateFunction | undefined;
  const ensure = () => {
    compiled ??= compile();
    return compiled;
  };
  const validate = ((data: unknown, context?: Parameters<ValidateFunction>[1]) => {
    const inner = ensure();
    const valid = inner(data, context);
    validate.errors = inner.errors;
    return valid;
  }) as ValidateFunction;
  Object.defineProperty(validate, "schemaEnv", { get: () => ensure().schemaEnv });
  return { validate, compile: () => void ensure() };
}

/**
 * A Fastify instance with the edge installed (request ids, the request log, JSON bodies,
 * hostile input, the error envelope) and the surfaces to register capabilities on.
 */
export function createHost(options: HostOptions): { app: FastifyInstance; surfaces: Surfaces } {
  const app: FastifyInstance = Fastify({
    loggerInstance: options.logger,
    // Fastify's two lines per request cost more than they tell; the edge logs one (installEdge).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "request_id" }),
    childLoggerFactory: (logger, bindings, options) => new LazyRequestLogger(logger, bindings, options),
    bodyLimit: LIMITS.body_bytes_max,
    return503OnClosing: true,
    requestIdHeader: false,
    // 96 random bits. Not a platform id: those share a monotonic counter with the objects' ids.
    genReqId: () => randomToken("req"),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: LIMITS.path_parameter_length_max },
    frameworkErrors: (error, request, reply) => {
      reply.header("Request-Id", request.id);
      sendError(request, reply, errorFrom(error));
    },
    clientErrorHandler: handleClientError,
  });

  // Handlers send JSON text (sendJson), which Fastify passes through untouched: a route's response
  // schema is compiled the first time its handler returns an object, not at start, where the
  // compilation of every route's schemas was a fifth of the app's start-up (once per test file).
  const serializerFor = SerializerSelector()();
  app.setSerializerCompiler((route) => {
    let serialize: ((data: unknown) => string) | undefined;
    return (data: unknown) => {
      serialize ??= serializerFor({ ...route, httpStatus: route.httpStatus ?? "default" });
      return serialize(data);
    };
  });
  // Bodies are validated without coercion; query strings with it. Each validator is compiled by
  // its route's first request, not at start: compiling them all was about 330 ms of the
  // embedded platform's start-up. validatorsCompiled() compiles them at once (a test does).
  const validators: Array<() => void> = [];
  VALIDATORS.set(app, validators);
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const validator = lazyValidator(() =>
      (httpPart === "body" ? bodyAjv : queryAjv).compile(schema as object),
    );
    validators.push(validator.compile);
    return validator.validate;
  });
  const routes: RegisteredRoute[] = [];
  ROUTE_TABLES.set(app, routes);
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) {
      routes.push({ method, url: route.url, hidden: route.schema?.hide === true });
    }
  });
  app.decorateRequest("auth", null as unknown as { getter: () => AuthContext });
  app.decorateRequest("scope", { getter: scopeOf });
  app.decorate("writes", createWrites({ gate: options.idempotency, db: options.db, clock: options.clock }));

  installEdge(app, {
    onRequestDone(request, reply) {
      const auth = request.auth;
      if (writesLevel(request.log, "info"))
        request.log.info(
          {
            method: request.method,
            route: request.routeOptions.url ?? "unmatched",
            status: reply.statusCode,
            latency_ms: Math.round(reply.elapsedTime * 10) / 10,
            ...(auth ? { key: auth.kind === "admin" ? "admin" : auth.keyId } : {}),
          },
          "request",
        );
      options.onResponse?.(request, reply);
    },
    methodsAt: (path) => methodsAt(routes, path),
  });

  const surfaces = createSurfaces({
    authenticate: options.authenticate,
    clock: options.clock,
    keyLimiter: new RateLimiter("per-key", options.rateLimit.perSecond, options.rateLimit.burst),
    authFailureLimiter: new RateLimiter(
      "auth-failures",
      options.authFailureLimit.perSecond,
      options.authFailureLimit.burst,
    ),
  });
  return { app, surfaces };
}
