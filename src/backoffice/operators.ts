import type { FastifyInstance } from "fastify";
import { operatorHealthSummary } from "../analytics/index.ts";
import { listOperators } from "../connectors/index.ts";
import type { Queryable } from "../db/db.ts";
import type { Mode } from "../platform/scope.ts";
import type { BackOfficeServices } from "./context.ts";
import { addAdminNavigation, adminPage, requirePagePermission } from "./pages.ts";

addAdminNavigation({ key: "nav.operators", href: "/admin/operators", permission: "operator:read" });

/** The figures cover the last day: enough traffic to say something, recent enough to act on. */
const RANGE_MS = 24 * 3600 * 1000;
const ERRORS_SHOWN = 3;
const SHOWN_MAX = 100;

interface InteractionError {
  operation: string;
  outcome: string;
  latency_ms: number;
  created: Date;
}

/** Each operator's last failed interactions (declined, no answer, not sent), in one statement. */
async function lastErrors(
  db: Queryable,
  operators: readonly string[],
  scope: { merchantId: string | null; mode: Mode },
): Promise<Map<string, InteractionError[]>> {
  if (operators.length === 0) return new Map();
  const params: unknown[] = [operators, scope.mode, ERRORS_SHOWN];
  if (scope.merchantId !== null) params.push(scope.merchantId);
  const { rows } = await db.query<InteractionError & { operator: string }>(
    `select o.operator, e.operation, e.outcome, e.latency_ms, e.created
       from unnest($1::text[]) as o(operator)
       cross join lateral (
         select operation, outcome, latency_ms, created from provider_interactions
          where operator = o.operator and mode = $2${scope.merchantId !== null ? " and merchant_id = $4" : ""}
            and split_part(outcome, ':', 1) in ('declined', 'unknown', 'not_sent', 'refused', 'failed', 'rejected')
          order by id desc limit $3) e`,
    params,
  );
  const out = new Map<string, InteractionError[]>();
  for (const r of rows) out.set(r.operator, [...(out.get(r.operator) ?? []), r]);
  return out;
}

/**
 * `/admin/operators`, read-only: each configured operator with its TPS limit, its success rate and
 * provider latency over the last day (the analytics rollups), the health check's verdict and its
 * last errors. A merchant's team sees its own traffic; platform staff see everyone's.
 */
export function operatorPages(services: BackOfficeServices) {
  return (pages: FastifyInstance) => {
    pages.get("/admin/operators", { schema: { hide: true } }, async (request, reply) => {
      const context = requirePagePermission(request, "operator:read");
      const asked = (request.query as { mode?: string }).mode;
      const mode: Mode = context.scope?.mode ?? (asked === "test" ? "test" : "live");
      const scope = { merchantId: context.scope?.merchantId ?? null, mode };
      const toMs = services.clock.nowMs();
      const health = await operatorHealthSummary(services.db, scope, { fromMs: toMs - RANGE_MS, toMs });
      // The registry holds every operator of every country (about 1,500): the page shows those with
      // traffic or a health verdict, or one country's when asked.
      const country = (request.query as { country?: string }).country;
      const chosen = typeof country === "string" && /^[A-Z]{2}$/.test(country) ? country : null;
      const listed = listOperators(chosen ? { country: chosen } : {})
        .filter((o) => chosen !== null || health.has(o.id))
        .sort((a, b) => a.country.localeCompare(b.country) || a.id.localeCompare(b.id))
        .slice(0, SHOWN_MAX);
      const errors = await lastErrors(
        services.db,
        listed.map((o) => o.id),
        scope,
      );
      const operators = listed.map((o) => ({
        id: o.id,
        name: o.brand ? `${o.name} (${o.brand})` : o.name,
        country: o.country,
        protocol: o.protocol,
        tps_max: o.tps_max,
        health: health.get(o.id) ?? null,
        errors: errors.get(o.id) ?? [],
      }));
      return adminPage(
        reply,
        "backoffice/templates/operators",
        { operators, mode, country: chosen ?? "", canSwitchMode: context.scope === null },
        { title: "operators.title" },
      );
    });
  };
}
