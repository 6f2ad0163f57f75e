import type { FastifyInstance } from "fastify";
import type { Queryable } from "../db/db.ts";
import { type ApiKeyRow, presentKey } from "../merchants/index.ts";
import { ApiError } from "../platform/errors.ts";
import { ALL_PERMISSIONS, holds, PLATFORM_PERMISSIONS, restrictedKeyPermissions } from "../staff/index.ts";
import type { BackOfficeServices } from "./context.ts";
import { formKey, formWrite, signedIn } from "./forms.ts";
import { addAdminNavigation, adminPage, requirePagePermission, scopeOf } from "./pages.ts";

addAdminNavigation({ key: "nav.api_keys", href: "/admin/api-keys", permission: "api_key:read" });

/**
 * When each key last wrote, from the audit log (its actor is the key): reads leave no trace, so
 * this is "last used" as far as it is known, without a write on every authenticated request.
 */
async function lastWrites(db: Queryable, keys: readonly ApiKeyRow[]): Promise<Map<string, Date>> {
  if (keys.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; at: Date | null }>(
    `select k.id, (select a.created from audit_events a where a.actor = k.id order by a.id desc limit 1) as at
       from unnest($1::text[]) as k(id)`,
    [keys.map((k) => k.id)],
  );
  return new Map(rows.flatMap((r) => (r.at ? [[r.id, new Date(r.at)] as const] : [])));
}

const NAME_LENGTH_MAX = 100;

/** `/admin/api-keys`: the merchant's keys; a restricted key made here is shown once, on the answer. */
export function apiKeyPages(services: BackOfficeServices) {
  return (pages: FastifyInstance) => {
    pages.get("/admin/api-keys", { schema: { hide: true } }, async (request, reply) => {
      const context = requirePagePermission(request, "api_key:read");
      const scope = scopeOf(context);
      const nowMs = services.clock.nowMs();
      const rows = await services.merchants.listKeys(scope.merchantId, scope.mode);
      const used = await lastWrites(services.db, rows);
      const done = (request.query as { done?: string }).done;
      return adminPage(
        reply,
        "backoffice/templates/api-keys",
        {
          keys: rows.map((r) => ({ ...presentKey(r, nowMs), last_used: used.get(r.id) ?? null })),
          canWrite: holds(context.access, "api_key:write"),
          // Only what the staff member holds can be granted (the API's rule decides on submit).
          grantable: ALL_PERMISSIONS.filter((p) => !PLATFORM_PERMISSIONS.has(p) && holds(context.access, p)),
          newKey: formKey,
          notice: done === "revoked" ? done : null,
        },
        { title: "api_keys.title" },
      );
    });

    pages.post("/admin/api-keys", { schema: { hide: true } }, async (request, reply) => {
      const context = signedIn(request);
      const scope = scopeOf(context);
      const body = request.body as { name?: unknown; permissions?: unknown };
      const name = typeof body.name === "string" ? body.name.trim().slice(0, NAME_LENGTH_MAX) : "";
      const chosen = [
        ...new Set([body.permissions ?? []].flat().filter((p): p is string => typeof p === "string")),
      ];
      const outcome = await formWrite(
        services,
        request,
        "api_key:write",
        { action: "api_keys.create", changes: { type: "secret", name: name || null, permissions: chosen } },
        async (tx, nowMs) => {
          // The API's rule, inside the audited write: a refusal is recorded like the API's.
          if (chosen.length === 0)
            throw new ApiError("parameter_missing", "permissions", "Choose at least one permission.");
          const permissions = restrictedKeyPermissions(context.access, {
            type: "secret",
            permissions: chosen,
          });
          const issued = await services.merchants.createKey(
            tx,
            scope.merchantId,
            scope.mode,
            "secret",
            name || null,
            permissions,
          );
          const shown = presentKey(issued.row, nowMs);
          // The secret is in this answer only; a replay of the form gets the key without it.
          return {
            statusCode: 201,
            body: JSON.stringify({ ...shown, secret: issued.key }),
            storedBody: JSON.stringify({ ...shown, secret: null }),
          };
        },
      );
      const created =
        outcome.kind === "done"
          ? (JSON.parse(outcome.body) as ReturnType<typeof presentKey> & { secret: string | null })
          : null;
      reply.header("cache-control", "no-store");
      return adminPage(
        reply,
        "backoffice/templates/api-key-created",
        { key: created, secret: created?.secret ?? null },
        { title: "api_keys.created_title", status: outcome.kind === "done" ? outcome.statusCode : 409 },
      );
    });

    pages.post("/admin/api-keys/:id/revoke", { schema: { hide: true } }, async (request, reply) => {
      const context = signedIn(request);
      const scope = scopeOf(context);
      const id = (request.params as { id: string }).id;
      await formWrite(
        services,
        request,
        "api_key:write",
        { action: "api_keys.revoke", objectHint: id, changes: { key: id } },
        async (tx, nowMs) => {
          const row = await services.merchants.revokeKey(tx, scope.merchantId, scope.mode, id);
          if (!row) throw new ApiError("resource_missing", "id", "No such API key.");
          return { statusCode: 200, body: JSON.stringify(presentKey(row, nowMs)) };
        },
      );
      return reply.redirect("/admin/api-keys?done=revoked", 303);
    });
  };
}
