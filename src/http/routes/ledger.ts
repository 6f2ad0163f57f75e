import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { listAccounts, listEntries, merchantBalance, trialBalance } from "../../ledger/queries.ts";
import type { Services } from "../../services.ts";
import { sendJson } from "../app.ts";
import { secretScope } from "../guards.ts";
import { type ListParams, listBody } from "../lists.ts";
import { ListQuery } from "../schemas.ts";

export function ledgerRoutes(services: Services) {
  return async (app: FastifyInstance) => {
    app.get("/balance", { schema: { tags: ["ledger"] } }, async (request, reply) =>
      sendJson(reply, 200, await merchantBalance(services.db, secretScope(request))),
    );
    app.get(
      "/ledger/accounts",
      { schema: { tags: ["ledger"], querystring: ListQuery } },
      async (request, reply) => {
        const page = await listAccounts(services.db, secretScope(request), request.query as ListParams);
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );
    app.get(
      "/ledger/entries",
      {
        schema: {
          tags: ["ledger"],
          querystring: Type.Composite(
            [ListQuery, Type.Object({ account: Type.Optional(Type.String({ maxLength: 64 })) })],
            {
              additionalProperties: false,
            },
          ),
        },
      },
      async (request, reply) => {
        const query = request.query as ListParams & { account?: string };
        const page = await listEntries(services.db, secretScope(request), query.account, query);
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );
    app.get("/ledger/trial_balance", { schema: { tags: ["ledger"] } }, async (request, reply) =>
      sendJson(reply, 200, await trialBalance(services.db, secretScope(request))),
    );
  };
}
