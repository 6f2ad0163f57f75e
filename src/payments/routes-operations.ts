/** What operations staff and merchants read about the wire: the interaction log, provider callbacks, payments still unresolved. */
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyRequest } from "fastify";
import { listPage } from "../db/pages.ts";
import {
  type Api,
  CursorId,
  IdOf,
  Instant,
  IsoTimestamp,
  ListQuery,
  listBody,
  listOf,
  Nullable,
  type Routes,
  sendJson,
} from "../http/index.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import type { PaymentsContext } from "./context.ts";
import { presentPayment } from "./model.ts";
import type { InteractionRow } from "./queries.ts";
import { listUnresolvedPayments } from "./reconcile.ts";
import { handleProviderCallback } from "./remote-events.ts";

const InteractionsQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      payment: Type.Optional(IdOf("pay", "Only this payment's interactions.")),
      msisdn: Type.Optional(Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$" })),
      operator: Type.Optional(Type.String({ maxLength: 16 })),
      attempt: Type.Optional(Type.String({ maxLength: 64 })),
      "created[gte]": Type.Optional(IsoTimestamp),
      "created[lte]": Type.Optional(IsoTimestamp),
      merchant: Type.Optional(IdOf("mer", "Admin key only: one merchant's log.")),
    }),
  ],
  { additionalProperties: false },
);

const Interaction = Type.Object({
  id: Type.String(),
  object: Type.Literal("provider_interaction"),
  created: Instant,
  payment: Nullable(Type.String()),
  refund: Nullable(Type.String()),
  provider: Type.String(),
  operator: Nullable(Type.String()),
  msisdn: Nullable(Type.String()),
  operation: Type.String({ examples: ["charge", "refund", "capture", "cancel", "status"] }),
  attempt_id: Nullable(Type.String()),
  request: Type.Unknown({ description: "What was sent, secrets redacted." }),
  response: Type.Unknown({ description: "What came back, secrets redacted." }),
  outcome: Type.String(),
  latency_ms: Nullable(Type.Integer()),
});

function presentInteraction(row: InteractionRow) {
  return {
    id: row.id,
    object: "provider_interaction" as const,
    created: iso(row.created.getTime()),
    payment: row.payment_id,
    refund: row.refund_id,
    provider: row.provider,
    operator: row.operator,
    msisdn: row.msisdn,
    operation: row.operation,
    attempt_id: row.attempt_id,
    request: row.request,
    response: row.response,
    outcome: row.outcome,
    latency_ms: row.latency_ms,
  };
}

/** A merchant reads its own log; the admin key reads everyone's, or one merchant's. */
function interactionScope(
  request: FastifyRequest,
  merchant: string | undefined,
  add: (sql: string, value: unknown) => void,
) {
  if (request.auth.kind === "admin") {
    if (merchant) add("merchant_id = ?", merchant);
    return;
  }
  if (merchant) throw new ApiError("admin_key_required", "merchant");
  add("merchant_id = ?", request.scope.merchantId);
  add("mode = ?", request.scope.mode);
}

/**
 * The append-only log of every exchange with an outside provider, searchable by payment, MSISDN,
 * operator and time. On the surface that takes a secret key or the admin key.
 */
export const interactionRoutes: Routes<PaymentsContext> = async (app, ctx) => {
  app.get(
    "/provider_interactions",
    {
      schema: {
        tags: ["payments"],
        operationId: "listProviderInteractions",
        summary: "Search the log of every exchange with a provider",
        querystring: InteractionsQuery,
        response: { 200: listOf(Interaction) },
      },
    },
    async (request, reply) => {
      const query: Static<typeof InteractionsQuery> = request.query;
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(sql.replace("?", `$${params.length}`));
      };
      interactionScope(request, query.merchant, add);
      if (query.payment) add("payment_id = ?", query.payment);
      if (query.msisdn) add("msisdn = ?", query.msisdn);
      if (query.operator) add("operator = ?", query.operator);
      if (query.attempt) add("attempt_id = ?", query.attempt);
      if (query["created[gte]"]) add("created >= ?", new Date(query["created[gte]"]));
      if (query["created[lte]"]) add("created <= ?", new Date(query["created[lte]"]));
      // A list may lag: the replica when there is one (its staged bodies and blocks are consistent
      // with its metadata, and the archive files are written before either commits).
      const db = ctx.readDb ?? ctx.db;
      const page = await listPage<InteractionRow>(db, "provider_interactions", where, params, query);
      const rows = await ctx.archive.attachBodies(db, page.rows);
      return sendJson(reply, 200, listBody(rows.map(presentInteraction), page.hasMore));
    },
  );
};

/**
 * Where operators and the card PSP send asynchronous results. No API key: each connector checks
 * the notification's own signature or token, and the body is handed over byte for byte.
 */
export const callbackRoutes: Routes<PaymentsContext> = async (app, ctx) => {
  app.post("/provider_callbacks/:operator/:attempt", { schema: { hide: true } }, async (request, reply) => {
    const { operator, attempt } = request.params as { operator: string; attempt: string };
    const answer = await handleProviderCallback(ctx, operator, {
      attempt_id: attempt,
      query: request.query as Record<string, string | undefined>,
      headers: request.headers as Record<string, string | undefined>,
      body: typeof request.body === "string" ? request.body : "",
    });
    return reply.code(answer.status).send(answer.body);
  });
};

const UnresolvedPayment = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("payment"),
    status: Type.String(),
    amount: Type.Integer(),
    currency: Type.String(),
    created: Type.String({ format: "date-time" }),
    reconciliation: Type.Object({
      status: Type.Literal("unresolved"),
      unresolved_since: Type.String({ format: "date-time" }),
      checks: Type.Integer({
        description:
          "How many times the provider was asked since the outcome went unknown (or to give back).",
      }),
      reason: Type.Union([Type.Literal("outcome_unknown"), Type.Literal("give_back_unconfirmed")], {
        description:
          "`outcome_unknown`: the provider cannot say what happened to the attempt; `give_back_unconfirmed`: a success that arrived after the cancel, which the provider has not yet confirmed voiding or refunding (still asked, with backoff).",
      }),
    }),
  },
  { additionalProperties: true },
);

const UnresolvedList = Type.Object({
  object: Type.Literal("list"),
  data: Type.Array(UnresolvedPayment),
  has_more: Type.Boolean(),
});

const UnresolvedQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
    starting_after: Type.Optional(CursorId),
    ending_before: Type.Optional(CursorId),
  },
  { additionalProperties: false },
);

/**
 * `GET /v1/payments/unresolved`: attempts whose provider could not say what happened, flagged for a
 * person instead of being decided failed (the payer may have been charged). Each stays
 * `processing` and is still asked about; settle it with the provider's records. Also canceled
 * payments whose late success the provider has not confirmed giving back (`give_back_unconfirmed`).
 */
export async function unresolvedRoutes(app: Api, ctx: PaymentsContext): Promise<void> {
  app.get(
    "/payments/unresolved",
    {
      schema: {
        tags: ["payments"],
        operationId: "listUnresolvedPayments",
        summary: "List payment attempts flagged for a person by reconciliation",
        querystring: UnresolvedQuery,
        response: { 200: UnresolvedList },
      },
    },
    async (request) => {
      const page = await listUnresolvedPayments(ctx, request.scope, request.query);
      return {
        object: "list" as const,
        data: page.rows.map((row) => {
          const giveBack = row.provider_state?.give_back as { asked?: number } | undefined;
          return {
            ...presentPayment(row),
            reconciliation: {
              status: "unresolved" as const,
              unresolved_since: new Date(row.unresolved_since ?? 0).toISOString(),
              checks: giveBack ? (giveBack.asked ?? 0) : (row.reconcile_checks ?? 0),
              reason: giveBack ? ("give_back_unconfirmed" as const) : ("outcome_unknown" as const),
            },
          };
        }),
        has_more: page.hasMore,
      };
    },
  );
}
