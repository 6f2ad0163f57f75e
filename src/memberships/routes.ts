import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { IdParams, listSchema, type RouteContext, Timestamp, withErrors } from "../community/routing.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import type { Memberships } from "./service.ts";

const Entitlement = Type.Object({
  object: Type.Literal("entitlement"),
  customer: Type.String(),
  entitlement: Type.String(),
  active: Type.Boolean(),
  active_until: Timestamp,
});

/** Memberships: what a game server asks before letting a member in. */
export function membershipRoutes(ctx: RouteContext, memberships: Memberships, clock: Clock) {
  return async (app: FastifyInstance) => {
    app.get(
      "/customers/:id/entitlements",
      {
        schema: {
          tags: ["memberships"],
          operationId: "listCustomerEntitlements",
          summary: "A customer's entitlements and until when each is active (one indexed read)",
          params: IdParams,
          response: withErrors({ 200: listSchema(Entitlement) }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        const id = (request.params as { id: string }).id;
        if (!id.startsWith("cus_"))
          throw new ApiError("resource_missing", "id", `No such customer: '${id}'.`);
        const data = await memberships.list(scope, id, clock.nowMs());
        return ctx.send(reply, 200, { object: "list", data, has_more: false });
      },
    );
  };
}
