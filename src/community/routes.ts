import type { Approvals } from "../approvals/index.ts";
import type { Db } from "../db/db.ts";
import { idempotencyScope, type Routes, sendJson } from "../http/index.ts";
import { idempotentTransaction } from "../idempotency/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { type Community, communityRoutes, type RouteContext } from "./index.ts";

/**
 * Wallets, currencies, memberships, vouchers and commissions on the secret-or-admin surface: every
 * route needs a merchant's secret key (`scope` answers 403 to the admin key) except voucher batch
 * approval, which only the platform owner's admin key may do.
 */
export const communityHttpRoutes: Routes<{
  community: Community;
  db: Db;
  clock: Clock;
  approvals?: Approvals;
}> = async (app, { community, db, clock, approvals }) => {
  const ctx: RouteContext = {
    scope(request) {
      if (request.auth.kind !== "merchant") throw new ApiError("secret_key_required");
      return request.scope;
    },
    principal(request) {
      const auth = request.auth;
      if (auth.kind === "admin") return { kind: "admin" };
      if (auth.keyType !== "secret") throw new ApiError("secret_key_required");
      return { kind: "merchant", keyId: auth.keyId, scope: request.scope };
    },
    // The Idempotency-Key is kept in the caller's scope (the admin's own for an approval).
    post: (request, reply, _scope, work) =>
      app.writes.flow(request, reply, (idempotency) =>
        idempotentTransaction(db, clock, idempotencyScope(request), idempotency, work),
      ),
    postRaw: (request, reply, _scope, execute) => app.writes.flow(request, reply, execute),
    send: sendJson,
  };
  await communityRoutes(ctx, community, db, clock, approvals)(app);
};
