import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import {
  CurrencyCode,
  CustomerId,
  IdParams,
  listSchema,
  MinorAmount,
  type RouteContext,
  Timestamp,
  TimestampInput,
  withErrors,
} from "../community/routing.ts";
import type { Currencies } from "../currencies/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { presentGrant, type Wallets } from "./service.ts";

const Grant = Type.Object({
  id: Type.String(),
  object: Type.Literal("wallet_grant"),
  created: Timestamp,
  customer: Type.String(),
  currency: Type.String(),
  category: Type.Union([Type.Literal("paid"), Type.Literal("promotional")]),
  amount: Type.Integer(),
  remaining: Type.Integer(),
  priority: Type.Integer(),
  expires_at: Type.Union([Timestamp, Type.Null()]),
  status: Type.String(),
  source: Type.String(),
  source_id: Type.Union([Type.String(), Type.Null()]),
  conversion: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
});

const Wallet = Type.Object({
  object: Type.Literal("wallet"),
  customer: Type.String(),
  currency: Type.String(),
  balance: Type.Integer(),
  grants: Type.Array(Grant),
});

const GrantBody = Type.Object(
  {
    customer: CustomerId,
    currency: CurrencyCode,
    amount: MinorAmount,
    category: Type.Union([Type.Literal("paid"), Type.Literal("promotional")]),
    expires_at: Type.Optional(TimestampInput),
    priority: Type.Optional(
      Type.Integer({ minimum: -1000, maximum: 1000, description: "Higher is drawn first." }),
    ),
  },
  { additionalProperties: false },
);

/** Wallets: a customer's balances per currency and the grants behind them. */
export function walletRoutes(ctx: RouteContext, wallets: Wallets, currencies: Currencies, clock: Clock) {
  return async (app: FastifyInstance) => {
    app.get(
      "/customers/:id/wallets",
      {
        schema: {
          tags: ["wallets"],
          operationId: "listCustomerWallets",
          summary: "A customer's wallets: balance per currency and the grants that make it",
          params: IdParams,
          response: withErrors({ 200: listSchema(Wallet) }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        const id = (request.params as { id: string }).id;
        const data = await wallets.list(scope, id, clock.nowMs());
        if (data.length === 0) await wallets.requireCustomer(scope, id, "id");
        return ctx.send(reply, 200, { object: "list", data, has_more: false });
      },
    );
    app.post(
      "/wallet_grants",
      {
        schema: {
          tags: ["wallets"],
          operationId: "createWalletGrant",
          summary: "Credit a customer's wallet (paid or promotional), with optional expiry and priority",
          body: GrantBody,
          response: withErrors({ 201: Grant }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        const body = request.body as {
          customer: string;
          currency: string;
          amount: number;
          category: "paid" | "promotional";
          expires_at?: string;
          priority?: number;
        };
        const nowMs = clock.nowMs();
        const expiresAtMs = body.expires_at === undefined ? null : Date.parse(body.expires_at);
        if (expiresAtMs !== null && !(expiresAtMs > nowMs))
          throw new ApiError("parameter_invalid", "expires_at", "expires_at is a date-time in the future.");
        await currencies.requireDigits(currencies.db, scope, body.currency, "currency");
        await wallets.requireCustomer(scope, body.customer);
        await wallets.ensureAccounts(scope, body.customer, body.currency, nowMs);
        return ctx.post(request, reply, scope, async (tx, now) => {
          const grant = await wallets.grant(
            tx,
            scope,
            {
              customer: body.customer,
              currency: body.currency,
              amount: BigInt(body.amount),
              category: body.category,
              expiresAtMs,
              priority: body.priority ?? 0,
              source: "api",
            },
            now,
          );
          return { statusCode: 201, body: JSON.stringify(presentGrant(grant)) };
        });
      },
    );
  };
}
