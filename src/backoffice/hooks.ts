import type { FastifyInstance, FastifyRequest } from "fastify";
import { actionName, type RequestAudit, recordAfter, redact, runAudited } from "../audit/index.ts";
import type { AuthContext } from "../merchants/index.ts";
import { ApiError } from "../platform/errors.ts";
import { type Access, accessOfAuth, holds, type Permission, permissionForRoute } from "../staff/index.ts";
import type { BackOfficeServices } from "./context.ts";
import { fourEyesInterceptors } from "./interceptors.ts";

const STAFF_KEY_PREFIX = "sk_staff_";

/** The access behind each authentication answer (a staff key's role, a restricted key's list). */
const accessByAuth = new WeakMap<AuthContext, Access>();

/**
 * Authenticates a bearer for the API surfaces: a staff member's personal key, or whatever the
 * merchants' keys say. The access it implies is kept beside the answer for the hooks below.
 */
export async function authenticateBearer(
  services: BackOfficeServices,
  authorization: string | undefined,
): Promise<AuthContext> {
  const bearer = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
  if (bearer?.startsWith(STAFF_KEY_PREFIX)) {
    const access = await services.staff.authenticateKey(bearer);
    accessByAuth.set(access.auth, access);
    return access.auth;
  }
  return services.merchants.authenticate(authorization);
}

export function accessOf(auth: AuthContext): Access {
  let access = accessByAuth.get(auth);
  if (!access) {
    access = accessOfAuth(auth);
    accessByAuth.set(auth, access);
  }
  return access;
}

/** What a route implies for access and audit. */
interface RouteFacts {
  action: string;
  permission: Permission | null;
}

function factsOfRoute(method: string, route: string): RouteFacts {
  return { action: actionName(method, route), permission: permissionForRoute(method, route) };
}

function auditContextOf(request: FastifyRequest, action: string): RequestAudit {
  const params = request.params as Record<string, string> | undefined;
  return {
    actor: request.access.actor,
    action,
    ip: request.ip ?? null,
    userAgent: (request.headers["user-agent"] ?? null)?.slice(0, 300) ?? null,
    requestId: request.id,
    changes: null,
    objectHint: params?.id ?? null,
    recorded: false,
  };
}

/** Every route of the authenticated API, as `METHOD /v1/path` (for the permission tests and docs). */
export const API_ROUTES = new Set<string>();

const AUDITED_READS = new Set(["/v1/audit_events", "/v1/audit_events/verify", "/v1/audit_events/checkpoint"]);

/**
 * Installs, on the whole app (the API surfaces authenticate first), the permission check of every route (from the catalogue),
 * the four-eyes interceptors and the audit of every write. Call before registering the surfaces.
 */
export function installAccessHooks(app: FastifyInstance, services: BackOfficeServices): void {
  app.decorateRequest("access", undefined as unknown as never);
  app.decorateRequest("audit", undefined);
  const interceptors = fourEyesInterceptors(services);
  // Each route's audit action and permission, worked out once as it is registered rather than on
  // every request; a URL that matches no route has them worked out when it comes.
  const routeFacts = new Map<string, RouteFacts>();
  app.addHook("onRoute", (route) => {
    if (!route.url.startsWith("/v1/")) return;
    for (const method of [route.method].flat())
      routeFacts.set(`${method} ${route.url}`, factsOfRoute(method, route.url));
    // Payers' routes take payer tokens, never merchant keys: outside the merchants' catalogue.
    if ((route.config as { payer?: boolean } | undefined)?.payer) return;
    for (const method of [route.method].flat())
      if (method !== "HEAD") API_ROUTES.add(`${method} ${route.url}`);
  });

  // The route's permission, and its audit context for a write; throws when refused.
  const checkAccess = (request: FastifyRequest): void => {
    if (!request.auth || !request.url.startsWith("/v1/")) return;
    request.access = accessOf(request.auth);
    const route = request.routeOptions.url ?? request.url.split("?")[0]!;
    const facts = routeFacts.get(`${request.method} ${route}`) ?? factsOfRoute(request.method, route);
    const audited = request.method !== "GET" && request.method !== "HEAD";
    if (audited || AUDITED_READS.has(route)) request.audit = auditContextOf(request, facts.action);
    const permission = facts.permission;
    const allowed = permission ? holds(request.access, permission) : request.access.permissions === "all";
    if (!allowed) {
      throw new ApiError(
        "permission_denied",
        undefined,
        permission ? `This needs the permission '${permission}'.` : "This needs every permission.",
      );
    }
  };

  // After the surface's own authentication (its onRequest hook), before the body is read. Hooks on
  // every request take `done` rather than being async: an async hook costs each request a promise.
  app.addHook("preParsing", (request, _reply, payload, done) => {
    try {
      checkAccess(request);
    } catch (error) {
      return done(error as Error);
    }
    done(null, payload);
  });

  app.addHook("preHandler", (request, reply, done) => {
    const context = request.audit;
    if (!context) return done();
    context.changes = redact(request.body ?? null);
    runAudited(context, () => {
      const interceptor = interceptors.get(`${request.method} ${request.routeOptions.url}`);
      if (!interceptor) return done();
      interceptor(request, reply).then(
        (handled) => (handled ? undefined : done()),
        (error: unknown) => done(error as Error),
      );
    });
  });

  // Whatever the helper did not record in its transaction (refusals, replays, flows with their
  // own transactions, reads of the audit log) is recorded in a transaction of its own before the
  // response leaves: a client that reads the audit log after an answer finds that answer in it
  // (recorded after the response, a refusal could be missing from a read made right after it).
  const recordUnrecorded = async (
    request: FastifyRequest,
    context: RequestAudit,
    statusCode: number,
    payload: unknown,
  ) => {
    try {
      await recordAfter(
        services.db,
        context,
        { statusCode, body: typeof payload === "string" ? payload : null },
        services.clock.nowMs(),
      );
    } catch (error) {
      services.logger.error({ err: error, request: request.id }, "audit record failed");
    }
  };
  // Already recorded (every write that went through its helper) costs no promise.
  app.addHook("onSend", (request, reply, payload, done) => {
    const context = request.audit;
    if (!context || context.recorded) return done(null, payload);
    recordUnrecorded(request, context, reply.statusCode, payload).then(
      () => done(null, payload),
      (error: unknown) => done(error as Error),
    );
  });
}
