import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { type Approvals, presentApproval } from "../approvals/index.ts";
import {
  CurrencyCode,
  CustomerId,
  Decimal,
  listSchema,
  type RouteContext,
  Timestamp,
  withErrors,
} from "../community/routing.ts";
import type { Currencies } from "../currencies/index.ts";
import type { ListParams } from "../db/pages.ts";
import { ApprovalObject, CursorId, IdOf } from "../http/index.ts";
import type { Clock } from "../platform/clock.ts";
import { LIMITS } from "../platform/limits.ts";
import type { AuthScope, Mode } from "../platform/scope.ts";
import type { Wallets } from "../wallets/index.ts";
import { type PayoutArguments, payOut, payOutIn, preparePayout } from "./payout.ts";
import { COMMISSION_STATUSES, type CommissionStatus, type Commissions } from "./service.ts";

const Plan = Type.Object({
  id: Type.String(),
  object: Type.Literal("commission_plan"),
  created: Timestamp,
  levels: Type.Array(Type.Object({ level: Type.Integer(), percent: Type.String() })),
  hold_days: Type.Integer(),
  max_depth: Type.Integer(),
  product: Type.Union([Type.String(), Type.Null()]),
  active: Type.Boolean(),
});

const Commission = Type.Object({
  id: Type.String(),
  object: Type.Literal("commission"),
  created: Timestamp,
  affiliate: Type.String(),
  customer: Type.String(),
  payment: Type.String(),
  plan: Type.String(),
  level: Type.Integer(),
  percent: Type.String(),
  amount: Type.Integer(),
  currency: Type.String(),
  status: Type.String({ enum: [...COMMISSION_STATUSES] }),
  hold_until: Timestamp,
  paid_via: Type.Union([Type.String(), Type.Null()]),
});

const Statement = Type.Object({
  object: Type.Literal("commission_statement"),
  affiliate: Type.String(),
  totals: Type.Array(
    Type.Object({
      currency: Type.String(),
      pending: Type.Integer(),
      approved: Type.Integer(),
      paid: Type.Integer(),
      reversed: Type.Integer(),
    }),
  ),
  commissions: Type.Array(Commission),
});

const Payout = Type.Object({
  object: Type.Literal("commission_payout"),
  affiliate: Type.String(),
  method: Type.String(),
  commissions: Type.Integer(),
  totals: Type.Array(Type.Object({ currency: Type.String(), amount: Type.Integer() })),
  wallet_grants: Type.Array(Type.Object({}, { additionalProperties: true })),
});

/** The four-eyes action of a staff member's payout: bound to the merchant, mode and request body. */
export const PAYOUT_APPROVAL = "commission.payout";

type PayoutApproval = PayoutArguments & { merchant: string; mode: Mode };

function payoutOf(args: Record<string, unknown>): { scope: AuthScope; body: PayoutArguments } {
  const { merchant, mode, ...body } = args as unknown as PayoutApproval;
  return { scope: { merchantId: merchant, mode }, body };
}

/** Commission plans, commissions, statements and payouts. */
export function commissionRoutes(
  ctx: RouteContext,
  commissions: Commissions,
  wallets: Wallets,
  currencies: Currencies,
  clock: Clock,
  approvals?: Approvals,
) {
  const deps = { commissions, wallets, currencies, clock };
  // A payout a staff member asked for runs when a second person with commission:payout approves it.
  approvals?.register({
    name: PAYOUT_APPROVAL,
    permission: "commission:payout",
    runs: "in_transaction",
    prepare: async (args, meta) => {
      const { scope, body } = payoutOf(args);
      await preparePayout(scope, body, deps, meta.nowMs);
    },
    execute: async (tx, args, meta) => {
      const { scope, body } = payoutOf(args);
      return payOutIn(tx, scope, body, deps, meta.nowMs);
    },
  });
  return async (app: FastifyInstance) => {
    app.post(
      "/commission_plans",
      {
        schema: {
          tags: ["commissions"],
          operationId: "createCommissionPlan",
          summary: "Set the commission plan (percent per referral level); it replaces the previous one",
          body: Type.Object(
            {
              levels: Type.Array(
                Type.Object(
                  { level: Type.Integer({ minimum: 1, maximum: 10 }), percent: Decimal },
                  { additionalProperties: false },
                ),
                { minItems: 1, maxItems: 10 },
              ),
              hold_days: Type.Integer({ minimum: 0, maximum: 365 }),
              max_depth: Type.Integer({ minimum: 1, maximum: 10 }),
              product: Type.Optional(Type.String({ maxLength: 64 })),
            },
            { additionalProperties: false },
          ),
          response: withErrors({ 201: Plan }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        return ctx.post(request, reply, scope, async (tx, nowMs) => ({
          statusCode: 201,
          body: JSON.stringify(
            await commissions.createPlan(
              tx,
              scope,
              request.body as Parameters<Commissions["createPlan"]>[2],
              nowMs,
            ),
          ),
        }));
      },
    );
    app.get(
      "/commissions",
      {
        schema: {
          tags: ["commissions"],
          operationId: "listCommissions",
          summary: "Commissions, newest first, by affiliate and status",
          querystring: Type.Object(
            {
              affiliate: Type.Optional(IdOf("cus", "Only this affiliate's commissions.")),
              status: Type.Optional(Type.String({ enum: [...COMMISSION_STATUSES] })),
              limit: Type.Integer({
                minimum: 1,
                maximum: LIMITS.list_limit_max,
                default: LIMITS.list_limit_default,
              }),
              starting_after: Type.Optional(CursorId),
              ending_before: Type.Optional(CursorId),
            },
            { additionalProperties: false },
          ),
          response: withErrors({ 200: listSchema(Commission) }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        const query = request.query as ListParams & { affiliate?: string; status?: CommissionStatus };
        const page = await commissions.list(
          scope,
          { affiliate: query.affiliate, status: query.status },
          query,
        );
        return ctx.send(reply, 200, { object: "list", data: page.rows, has_more: page.hasMore });
      },
    );
    app.get(
      "/commissions/statement",
      {
        schema: {
          tags: ["commissions"],
          operationId: "commissionStatement",
          summary: "An affiliate's statement: totals per currency and status, latest commissions",
          querystring: Type.Object({ affiliate: CustomerId }, { additionalProperties: false }),
          response: withErrors({ 200: Statement }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        const { affiliate } = request.query as { affiliate: string };
        await wallets.requireCustomer(scope, affiliate, "affiliate");
        return ctx.send(reply, 200, await commissions.statement(scope, affiliate));
      },
    );
    app.post(
      "/commission_payouts",
      {
        schema: {
          tags: ["commissions"],
          operationId: "createCommissionPayout",
          summary:
            "Pay an affiliate's approved commissions into their wallet or record them paid outside; a staff member's payout waits for a second person (202)",
          body: Type.Object(
            {
              affiliate: CustomerId,
              method: Type.Union([Type.Literal("wallet"), Type.Literal("external")]),
              currency: Type.Optional(CurrencyCode),
            },
            { additionalProperties: false },
          ),
          response: withErrors({
            201: Payout,
            202: {
              ...ApprovalObject,
              description: "A staff member asked: the payout waits for a second person.",
            },
          }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        const body = request.body as PayoutArguments;
        const access = request.access;
        // Four eyes: a person's payout is only asked for here (202); a merchant's own key pays at once.
        if (approvals && access?.actor.kind === "staff") {
          await preparePayout(scope, body, deps, clock.nowMs());
          return ctx.post(request, reply, scope, async (tx, nowMs) => {
            const args: PayoutApproval = { merchant: scope.merchantId, mode: scope.mode, ...body };
            const approval = await approvals.request(tx, access, PAYOUT_APPROVAL, { ...args }, scope, nowMs);
            return { statusCode: 202, body: JSON.stringify(presentApproval(approval, nowMs)) };
          });
        }
        return payOut(ctx, request, reply, scope, body, deps);
      },
    );
  };
}
