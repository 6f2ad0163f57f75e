import { Type } from "@sinclair/typebox";
import type { Queryable } from "../db/db.ts";
import { ListQuery, listBody, type Routes, sendJson } from "../http/index.ts";
import { listAccounts, listEntries, merchantBalance, trialBalance } from "./queries.ts";

const EntriesQuery = Type.Composite(
  [ListQuery, Type.Object({ account: Type.Optional(Type.String({ maxLength: 64 })) })],
  { additionalProperties: false },
);

/** A merchant's balance and ledger, on the secret-key surface. Sums past 2^53 stay exact (toJson). */
export const ledgerRoutes: Routes<Queryable> = async (app, db) => {
  app.get("/balance", { schema: { tags: ["ledger"] } }, async (request, reply) =>
    sendJson(reply, 200, await merchantBalance(db, request.scope)),
  );
  app.get(
    "/ledger/accounts",
    { schema: { tags: ["ledger"], querystring: ListQuery } },
    async (request, reply) => {
      const page = await listAccounts(db, request.scope, request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/ledger/entries",
    { schema: { tags: ["ledger"], querystring: EntriesQuery } },
    async (request, reply) => {
      const page = await listEntries(db, request.scope, request.query.account, request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get("/ledger/trial_balance", { schema: { tags: ["ledger"] } }, async (request, reply) =>
    sendJson(reply, 200, await trialBalance(db, request.scope)),
  );
};
