import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { listOperators, operatorSummary } from "../../connectors/operators/index.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { secretScope } from "../guards.ts";
import { listBody } from "../lists.ts";

/** The operator registry, for merchants choosing where to charge. */
export function operatorRoutes(_services: Services) {
  return async (app: FastifyInstance) => {
    app.get(
      "/operators",
      {
        schema: {
          tags: ["operators"],
          querystring: Type.Object(
            {
              country: Type.Optional(Type.String({ pattern: "^[A-Z]{2}$" })),
              limit: Type.Integer({ minimum: 1, maximum: 2000, default: 100 }),
              starting_after: Type.Optional(Type.String({ maxLength: 8 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        secretScope(request);
        const query = request.query as { country?: string; limit: number; starting_after?: string };
        const all = listOperators(query.country ? { country: query.country } : {})
          .map((o) => ({ object: "operator" as const, ...operatorSummary(o) }))
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        const start = query.starting_after ? all.findIndex((o) => o.id > query.starting_after!) : 0;
        const page = start < 0 ? [] : all.slice(start, start + query.limit);
        return sendJson(reply, 200, listBody(page, start >= 0 && start + query.limit < all.length));
      },
    );
  };
}
