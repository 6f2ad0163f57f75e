import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { idempotentTransaction } from "../../idempotency/transaction.ts";
import { presentKey } from "../../merchants/service.ts";
import { ApiError } from "../../platform/errors.ts";
import type { Services } from "../../services.ts";
import {
  ALL_PERMISSIONS,
  isPermission,
  type Permission,
  PLATFORM_PERMISSIONS,
  requireHoldsAll,
} from "../../staff/index.ts";
import { sendJson } from "../app.ts";
import { idempotentPost, secretScope } from "../guards.ts";
import { listBody } from "../lists.ts";
import { IdParams, StringEnum } from "../schemas.ts";

const ROLL_GRACE_SECONDS_MAX = 7 * 24 * 3600;

/** A merchant's keys for the mode of the calling key: create, list, roll and revoke. */
export function apiKeyRoutes(services: Services) {
  return async (app: FastifyInstance) => {
    app.post(
      "/api_keys",
      {
        schema: {
          tags: ["api_keys"],
          body: Type.Object(
            {
              type: StringEnum(["secret", "publishable"] as const),
              name: Type.Optional(Type.String({ maxLength: 100 })),
              permissions: Type.Optional(
                Type.Array(Type.String({ maxLength: 64 }), {
                  maxItems: 100,
                  uniqueItems: true,
                  description: "A restricted secret key: only these permissions (`group:action`).",
                }),
              ),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const body = request.body as {
          type: "secret" | "publishable";
          name?: string;
          permissions?: string[];
        };
        const permissions = restrictedPermissions(request, body);
        return idempotentPost(services, request, reply, scope, (idem) =>
          idempotentTransaction(services.db, services.clock, scope, idem, async (tx, nowMs) => {
            const issued = await services.merchants.createKey(
              tx,
              scope.merchantId,
              scope.mode,
              body.type,
              body.name ?? null,
              permissions,
            );
            const shown = { ...presentKey(issued.row, nowMs), secret: issued.key };
            return {
              statusCode: 201,
              body: JSON.stringify(shown),
              storedBody: JSON.stringify({ ...shown, secret: null }),
            };
          }),
        );
      },
    );

    app.get("/api_keys", { schema: { tags: ["api_keys"] } }, async (request, reply) => {
      const scope = secretScope(request);
      const nowMs = services.clock.nowMs();
      const rows = await services.merchants.listKeys(scope.merchantId, scope.mode);
      return sendJson(
        reply,
        200,
        listBody(
          rows.map((r) => presentKey(r, nowMs)),
          false,
        ),
      );
    });

    app.get("/api_keys/:id", { schema: { tags: ["api_keys"], params: IdParams } }, async (request, reply) => {
      const scope = secretScope(request);
      const row = await services.merchants.getKey(
        scope.merchantId,
        scope.mode,
        (request.params as { id: string }).id,
      );
      if (!row) throw new ApiError("resource_missing", "id", "No such API key.");
      return sendJson(reply, 200, presentKey(row, services.clock.nowMs()));
    });

    app.post(
      "/api_keys/:id/roll",
      {
        schema: {
          tags: ["api_keys"],
          params: IdParams,
          body: Type.Object(
            { expires_in: Type.Optional(Type.Integer({ minimum: 0, maximum: ROLL_GRACE_SECONDS_MAX })) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const id = (request.params as { id: string }).id;
        const graceMs = ((request.body as { expires_in?: number } | undefined)?.expires_in ?? 0) * 1000;
        return idempotentPost(services, request, reply, scope, (idem) =>
          idempotentTransaction(services.db, services.clock, scope, idem, async (tx, nowMs) => {
            const issued = await services.merchants.rollKey(tx, scope.merchantId, scope.mode, id, graceMs);
            if (!issued) throw new ApiError("resource_missing", "id", "No such active API key.");
            const shown = { ...presentKey(issued.row, nowMs), secret: issued.key, rolled_from: id };
            return {
              statusCode: 201,
              body: JSON.stringify(shown),
              storedBody: JSON.stringify({ ...shown, secret: null }),
            };
          }),
        );
      },
    );

    app.delete(
      "/api_keys/:id",
      { schema: { tags: ["api_keys"], params: IdParams } },
      async (request, reply) => {
        const scope = secretScope(request);
        const row = await services.merchants.revokeKey(
          services.db,
          scope.merchantId,
          scope.mode,
          (request.params as { id: string }).id,
        );
        if (!row) throw new ApiError("resource_missing", "id", "No such API key.");
        return sendJson(reply, 200, presentKey(row, services.clock.nowMs()));
      },
    );
  };
}

/** A restricted key's permissions: known ones, on a secret key, all held by the caller. */
function restrictedPermissions(
  request: FastifyRequest,
  body: { type: string; permissions?: string[] },
): string[] | null {
  if (body.permissions === undefined) {
    // An unrestricted secret key holds everything: only a caller who does may mint one.
    if (body.type === "secret") {
      requireHoldsAll(
        request.access,
        ALL_PERMISSIONS.filter((p) => !PLATFORM_PERMISSIONS.has(p)),
        "permissions",
      );
    }
    return null;
  }
  if (body.type !== "secret") {
    throw new ApiError("parameter_invalid", "permissions", "Only secret keys can be restricted.");
  }
  const unknown = body.permissions.find((p) => !isPermission(p));
  if (unknown !== undefined) {
    throw new ApiError("parameter_invalid", "permissions", `No such permission: '${unknown}'.`);
  }
  requireHoldsAll(request.access, body.permissions as Permission[], "permissions");
  return body.permissions;
}
