import type { FastifyInstance } from "fastify";
import type { Queryable } from "../db/db.ts";
import { listWebhookEndpoints, redeliverEvent } from "../events/index.ts";
import { ApiError } from "../platform/errors.ts";
import type { AuthScope } from "../platform/scope.ts";
import { holds } from "../staff/index.ts";
import type { BackOfficeServices } from "./context.ts";
import { formKey, formWrite, signedIn } from "./forms.ts";
import { addAdminNavigation, adminPage, requirePagePermission, scopeOf } from "./pages.ts";

addAdminNavigation({ key: "nav.webhooks", href: "/admin/webhooks", permission: "webhook:read" });

/** A delivery that failed: given up (`failed`), or still retrying (`pending` after an attempt). */
interface FailedDelivery {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  url: string;
  enabled: boolean;
  status: "failed" | "pending";
  attempt_count: number;
  next_attempt_at: Date | null;
  error: string | null;
  response_status: number | null;
  last_attempt: Date | null;
}

const FAILED_SHOWN = 50;

/** The merchant's most recently failed deliveries, each with its last attempt's error. */
async function failedDeliveries(db: Queryable, scope: AuthScope): Promise<FailedDelivery[]> {
  const { rows } = await db.query<FailedDelivery>(
    `select d.id::text as id, d.endpoint_id, d.event_id, e.type as event_type, w.url, w.enabled, d.status,
            d.attempt_count, case when d.status = 'pending' then d.next_attempt_at end as next_attempt_at,
            a.error, a.response_status, a.created as last_attempt
       from webhook_deliveries d
       join webhook_endpoints w on w.id = d.endpoint_id
       join events e on e.id = d.event_id
       left join lateral (
         select x.error, x.response_status, x.created from webhook_attempts x
          where x.endpoint_id = d.endpoint_id and x.delivery_id = d.id
          order by x.id desc limit 1) a on true
      where d.merchant_id = $1 and d.mode = $2
        and (d.status = 'failed' or (d.status = 'pending' and d.attempt_count > 0))
      order by d.updated desc, d.id desc limit $3`,
    [scope.merchantId, scope.mode, FAILED_SHOWN],
  );
  return rows;
}

/** `/admin/webhooks`: endpoints and failed deliveries; redeliver through the API's own service. */
export function webhookPages(services: BackOfficeServices) {
  return (pages: FastifyInstance) => {
    pages.get("/admin/webhooks", { schema: { hide: true } }, async (request, reply) => {
      const context = requirePagePermission(request, "webhook:read");
      const scope = scopeOf(context);
      const deps = { db: services.db, clock: services.clock };
      const endpoints = await listWebhookEndpoints(deps, scope, { limit: 100 });
      const deliveries = await failedDeliveries(services.db, scope);
      const done = (request.query as { done?: string }).done;
      return adminPage(
        reply,
        "backoffice/templates/webhooks",
        {
          endpoints: endpoints.data,
          deliveries,
          canRedeliver: holds(context.access, "webhook:write"),
          newKey: formKey,
          notice: done === "queued" || done === "already" ? done : null,
        },
        { title: "webhooks.title" },
      );
    });

    pages.post(
      "/admin/webhooks/deliveries/:id/redeliver",
      { schema: { hide: true } },
      async (request, reply) => {
        const context = signedIn(request);
        const scope = scopeOf(context);
        const id = (request.params as { id: string }).id;
        if (!/^\d{1,18}$/.test(id)) throw new ApiError("resource_missing", "id", "No such delivery.");
        const outcome = await formWrite(
          services,
          request,
          "webhook:write",
          { action: "webhook_deliveries.redeliver", objectHint: id, changes: { delivery: id } },
          async (tx) => {
            // The failed delivery, locked: two submits from two tabs queue one redelivery, not two.
            const { rows } = await tx.query<{ endpoint_id: string; event_id: string }>(
              `select endpoint_id, event_id from webhook_deliveries
                where id = $1 and merchant_id = $2 and mode = $3 for update`,
              [id, scope.merchantId, scope.mode],
            );
            const failed = rows[0];
            if (!failed) throw new ApiError("resource_missing", "id", "No such delivery.");
            const queued = await tx.query(
              `select 1 from webhook_deliveries where endpoint_id = $1 and event_id = $2 and manual
                 and status = 'pending' and id > $3 limit 1`,
              [failed.endpoint_id, failed.event_id, id],
            );
            if (queued.rows.length > 0)
              return { statusCode: 200, body: JSON.stringify({ object: "event_redelivery", queued: false }) };
            const redelivery = await redeliverEvent(
              { db: { query: tx.query.bind(tx), transaction: (inner) => inner(tx) }, clock: services.clock },
              scope,
              failed.event_id,
              { endpointId: failed.endpoint_id },
            );
            return { statusCode: 202, body: JSON.stringify({ ...redelivery, queued: true }) };
          },
        );
        const queued = outcome.kind === "done" && outcome.statusCode === 202 && !outcome.replayed;
        return reply.redirect(`/admin/webhooks?done=${queued ? "queued" : "already"}`, 303);
      },
    );
  };
}
