import { type Community, communityRoutes, type RouteContext } from "../../community/index.ts";
import { idempotentTransaction } from "../../idempotency/transaction.ts";
import { ApiError } from "../../platform/errors.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { idempotentPost, secretScope } from "../guards.ts";

/** Wallets, currencies, memberships, vouchers and commissions, with the core's guards. */
export function communityHttpRoutes(services: Services & { community: Community }) {
  const ctx: RouteContext = {
    scope: secretScope,
    principal(request) {
      const auth = request.auth;
      if (auth.kind === "admin") return { kind: "admin" };
      if (auth.keyType !== "secret") throw new ApiError("secret_key_required");
      return { kind: "merchant", keyId: auth.keyId, scope: { merchantId: auth.merchantId, mode: auth.mode } };
    },
    post: (request, reply, scope, work) =>
      idempotentPost(services, request, reply, scope, (idempotency) =>
        idempotentTransaction(services.db, services.clock, scope, idempotency, work),
      ),
    postRaw: (request, reply, scope, execute) => idempotentPost(services, request, reply, scope, execute),
    send: sendJson,
  };
  return communityRoutes(ctx, services.community, services.db, services.clock);
}
