import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { type EventRow, presentEvent } from "../../events/outbox.ts";
import { ApiError } from "../../platform/errors.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { secretScope } from "../guards.ts";
import { type ListParams, listBody, listPage } from "../lists.ts";
import { IdParams, ListQuery } from "../schemas.ts";

export function eventRoutes(services: Services) {
  return async (app: FastifyInstance) => {
    app.get(
      "/events",
      {
        schema: {
          tags: ["events"],
          querystring: Type.Composite(
            [
              ListQuery,
              Type.Object({
                type: Type.Optional(Type.String({ maxLength: 100 })),
                object_id: Type.Optional(Type.String({ maxLength: 64 })),
              }),
            ],
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const scope = secretScope(request);
        const query = request.query as ListParams & { type?: string; object_id?: string };
        const where = ["merchant_id = $1", "mode = $2"];
        const params: unknown[] = [scope.merchantId, scope.mode];
        if (query.type) {
          params.push(query.type);
          where.push(`type = $${params.length}`);
        }
        if (query.object_id) {
          params.push(query.object_id);
          where.push(`object_id = $${params.length}`);
        }
        const page = await listPage<EventRow>(services.db, "events", where, params, query);
        return sendJson(reply, 200, listBody(page.rows.map(presentEvent), page.hasMore));
      },
    );
    app.get("/events/:id", { schema: { tags: ["events"], params: IdParams } }, async (request, reply) => {
      const scope = secretScope(request);
      const { rows } = await services.db.query<EventRow>(
        "select * from events where id = $1 and merchant_id = $2 and mode = $3",
        [(request.params as { id: string }).id, scope.merchantId, scope.mode],
      );
      if (!rows[0]) throw new ApiError("resource_missing", "id", "No such event.");
      return sendJson(reply, 200, presentEvent(rows[0]));
    });
  };
}
