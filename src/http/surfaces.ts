import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from "fastify";
import type { AuthContext } from "../merchants/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError, assert } from "../platform/errors.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { RateLimiter, Take } from "./rate-limit.ts";
import type { Writes } from "./writes.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Who is calling: set by the authentication hook of the API surfaces, before any handler. */
    auth: AuthContext;
    /** The merchant and mode of a merchant key (secret and publishable surfaces). */
    readonly scope: AuthScope;
  }
  interface FastifyInstance {
    /** The idempotent-write helpers every POST goes through (see writes.ts). */
    writes: Writes;
  }
}

/** What a capability's routes are given: a Fastify instance typed through TypeBox. */
export type Api = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/**
 * A capability's HTTP routes: `src/<capability>/routes.ts` exports one of these, and
 * src/http/app.ts registers it on a surface with the dependencies it needs.
 */
export type Routes<Deps> = (app: Api, deps: Deps) => Promise<void>;

/** Who may call a surface: answers the scope, or throws the 403 that explains what is needed. */
type Authorize = (auth: AuthContext) => void;

const secretOnly: Authorize = (auth) => {
  if (auth.kind !== "merchant" || auth.keyType !== "secret") {
    throw new ApiError("secret_key_required", undefined, "Use a merchant's secret key for this request.");
  }
};
const merchantKey: Authorize = (auth) => {
  if (auth.kind !== "merchant") throw new ApiError("secret_key_required", undefined, "Use a merchant's key.");
};
const adminOnly: Authorize = (auth) => {
  if (auth.kind !== "admin") throw new ApiError("admin_key_required");
};
const secretOrAdmin: Authorize = (auth) => {
  if (auth.kind !== "admin") secretOnly(auth);
};

export interface SurfaceDeps {
  authenticate(authorization: string | undefined): Promise<AuthContext>;
  clock: Clock;
  /** Requests per API key (or the admin key). */
  keyLimiter: RateLimiter;
  /** Failed authentications per client address: guessing keys gets 429, not endless 401s. */
  authFailureLimiter: RateLimiter;
}

function rateLimited(retryAfterSeconds: number): ApiError {
  return new ApiError("rate_limited", undefined, undefined, { "Retry-After": String(retryAfterSeconds) });
}

/** The IETF RateLimit fields (draft 8) of one limiter's answer to this request. */
function rateLimitFields(reply: FastifyReply, limiter: RateLimiter, take: Take): void {
  reply.header("RateLimit-Policy", limiter.policyHeader);
  reply.header("RateLimit", limiter.stateHeader(take));
}

/**
 * Authenticates, throttles and authorizes a request on an API surface, in that order. An
 * authenticated answer carries the key's policy (`"per-key"`); an answer the failed-authentication
 * limiter decides (a 401 that spent the address's budget, the 429 past it) carries the address's
 * (`"auth-failures"`), so a client guessing keys sees its budget run out as the contract says
 * every answer of a rate-limited surface does. A request that authenticates spends nothing of the
 * address's budget and does not carry it.
 */
function authHook(deps: SurfaceDeps, authorize: Authorize) {
  const { keyLimiter, authFailureLimiter } = deps;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const nowMs = deps.clock.nowMs();
    if (authFailureLimiter.enabled) {
      const failures = authFailureLimiter.peek(request.ip, nowMs);
      if (!failures.allowed) {
        rateLimitFields(reply, authFailureLimiter, failures);
        throw rateLimited(failures.retryAfterSeconds);
      }
    }
    try {
      request.auth = await deps.authenticate(request.headers.authorization);
    } catch (error) {
      if (error instanceof ApiError && error.type === "authentication_error" && authFailureLimiter.enabled) {
        const failures = authFailureLimiter.take(request.ip, nowMs);
        rateLimitFields(reply, authFailureLimiter, failures);
        if (!failures.allowed) throw rateLimited(failures.retryAfterSeconds);
      }
      throw error;
    }
    if (keyLimiter.enabled) {
      const subject = request.auth.kind === "admin" ? "admin" : request.auth.keyId;
      const take = keyLimiter.take(subject, nowMs);
      rateLimitFields(reply, keyLimiter, take);
      if (!take.allowed) throw rateLimited(take.retryAfterSeconds);
    }
    authorize(request.auth);
  };
}

/** A POST without a body is a POST with an empty object (`/cancel`, `/capture` in full). */
async function emptyBodyIsEmptyObject(request: FastifyRequest): Promise<void> {
  if (request.method === "POST" && request.body === undefined) request.body = {};
}

/**
 * The surfaces of the HTTP API. Each is an encapsulated Fastify plugin: its hooks (who may call,
 * how bodies are read) apply to the routes registered inside it and to nothing else.
 *
 * - `secret`: `/v1`, a merchant's secret key; `request.scope` is its merchant and mode.
 * - `publishable`: `/v1`, a merchant's publishable or secret key (`request.auth.keyType` says which).
 * - `admin`: `/v1`, the admin key.
 * - `secretOrAdmin`: `/v1`, either (the admin key reads across merchants).
 * - `callbacks`: provider notifications at the root, no API key (each connector checks its own
 *   signature), the body handed over as the raw text it arrived as.
 *
 * Pages for people have their own surface in src/web/ (`pagesSurface`: sessions, CSRF, CSP, HTML
 * errors).
 */
export function createSurfaces(deps: SurfaceDeps) {
  const api =
    (authorize: Authorize) =>
    <D>(routes: Routes<D>, routeDeps: D): FastifyPluginAsync =>
    async (app) => {
      await app.register(
        async (v1) => {
          v1.addHook("onRequest", authHook(deps, authorize));
          v1.addHook("preValidation", emptyBodyIsEmptyObject);
          await routes(v1.withTypeProvider<TypeBoxTypeProvider>(), routeDeps);
        },
        { prefix: "/v1" },
      );
    };
  return {
    secret: api(secretOnly),
    publishable: api(merchantKey),
    admin: api(adminOnly),
    secretOrAdmin: api(secretOrAdmin),
    callbacks:
      <D>(routes: Routes<D>, routeDeps: D): FastifyPluginAsync =>
      async (app) => {
        app.removeAllContentTypeParsers();
        app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));
        await routes(app.withTypeProvider<TypeBoxTypeProvider>(), routeDeps);
      },
  };
}

export type Surfaces = ReturnType<typeof createSurfaces>;

/** `request.scope`, readable only where a merchant key was accepted. */
export function scopeOf(this: FastifyRequest): AuthScope {
  const auth = this.auth;
  assert(auth?.kind === "merchant", "request.scope is only set on merchant-key surfaces");
  return { merchantId: auth.merchantId, mode: auth.mode };
}
