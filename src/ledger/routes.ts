import { Type } from "@sinclair/typebox";
import type { Queryable } from "../db/db.ts";
import {
  IdOf,
  Instant,
  ListQuery,
  listBody,
  listOf,
  MinorUnits,
  Nullable,
  type Routes,
  StringEnum,
  sendJson,
} from "../http/index.ts";
import { ENTRY_ID, listAccounts, listEntries, merchantBalance, trialBalance } from "./queries.ts";

/** An entry's id: its transfer's and its side (src/ledger/queries.ts). */
const EntryCursor = Type.String({
  maxLength: 64,
  pattern: ENTRY_ID.source,
  description: "The id of a ledger entry: the page starts after (or ends before) it",
});
const EntriesQuery = Type.Object(
  {
    limit: ListQuery.properties.limit,
    starting_after: Type.Optional(EntryCursor),
    ending_before: Type.Optional(EntryCursor),
    account: Type.Optional(IdOf("la", "Only this ledger account's entries.")),
  },
  { additionalProperties: false },
);

const Amounts = Type.Array(Type.Object({ currency: Type.String(), amount: MinorUnits }));
const Balance = Type.Object({
  object: Type.Literal("balance"),
  livemode: Type.Boolean(),
  available: Amounts,
  pending: Amounts,
});
const Account = Type.Object({
  id: Type.String(),
  object: Type.Literal("ledger_account"),
  created: Instant,
  owner: Type.String(),
  purpose: Type.String({ examples: ["available", "clearing", "subscription_debt"] }),
  currency: Type.String(),
  flags: Type.Object({
    debits_must_not_exceed_credits: Type.Boolean(),
    credits_must_not_exceed_debits: Type.Boolean(),
  }),
  debits_posted: MinorUnits,
  credits_posted: MinorUnits,
  debits_pending: MinorUnits,
  credits_pending: MinorUnits,
});
const Entry = Type.Object({
  id: Type.String(),
  object: Type.Literal("ledger_entry"),
  created: Instant,
  account: Type.String(),
  direction: StringEnum(["debit", "credit"] as const),
  amount: MinorUnits,
  currency: Type.String(),
  transfer: Type.String(),
  transfer_type: Type.String({ examples: ["single_phase", "pending", "post_pending", "void_pending"] }),
  pending_transfer: Nullable(Type.String()),
  journal: Type.String(),
  code: Type.String({ examples: ["payment", "refund"] }),
  reference: Nullable(Type.String()),
});
const TrialBalance = Type.Object({
  object: Type.Literal("trial_balance"),
  livemode: Type.Boolean(),
  data: Type.Array(
    Type.Object({
      currency: Type.String(),
      debits: MinorUnits,
      credits: MinorUnits,
      pending_debits: MinorUnits,
      pending_credits: MinorUnits,
      balanced: Type.Boolean(),
    }),
  ),
});

const tags = ["ledger"];

/** A merchant's balance and ledger, on the secret-key surface. Sums past 2^53 stay exact (toJson). */
export const ledgerRoutes: Routes<Queryable> = async (app, db) => {
  app.get(
    "/balance",
    {
      schema: {
        tags,
        operationId: "getBalance",
        summary: "The merchant's available and pending balance per currency",
        response: { 200: Balance },
      },
    },
    async (request, reply) => sendJson(reply, 200, await merchantBalance(db, request.scope)),
  );
  app.get(
    "/ledger/accounts",
    {
      schema: {
        tags,
        operationId: "listLedgerAccounts",
        summary: "List the ledger accounts the merchant's money moves through",
        querystring: ListQuery,
        response: { 200: listOf(Account) },
      },
    },
    async (request, reply) => {
      const page = await listAccounts(db, request.scope, request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/ledger/entries",
    {
      schema: {
        tags,
        operationId: "listLedgerEntries",
        summary: "List ledger entries (two per transfer), newest first",
        querystring: EntriesQuery,
        response: { 200: listOf(Entry) },
      },
    },
    async (request, reply) => {
      const page = await listEntries(db, request.scope, request.query.account, request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/ledger/trial_balance",
    {
      schema: {
        tags,
        operationId: "getTrialBalance",
        summary: "Debits and credits per currency: they balance",
        response: { 200: TrialBalance },
      },
    },
    async (request, reply) => sendJson(reply, 200, await trialBalance(db, request.scope)),
  );
};
