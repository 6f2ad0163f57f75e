import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import {
  CurrencyCode,
  Decimal,
  listSchema,
  type RouteContext,
  Timestamp,
  TimestampInput,
  withErrors,
} from "../community/routing.ts";
import type { ListParams } from "../db/pages.ts";
import { ListQuery } from "../http/index.ts";
import type { CurrencyReports } from "./reports.ts";
import type { Currencies } from "./service.ts";

const CurrencyObject = Type.Object({
  id: Type.String(),
  object: Type.Literal("currency"),
  code: Type.String(),
  name: Type.String(),
  minor_digits: Type.Integer(),
  created: Timestamp,
});

const RateObject = Type.Object({
  id: Type.String(),
  object: Type.Literal("exchange_rate"),
  from: Type.String(),
  to: Type.String(),
  rate: Type.String(),
  source: Type.Union([Type.String(), Type.Null()]),
  valid_from: Timestamp,
  valid_until: Type.Union([Timestamp, Type.Null()]),
  created: Timestamp,
});

/** A currency's id is its code, so the cursors of its list are codes, not time-sortable ids. */
const CurrencyCursor = Type.String({
  pattern: "^[A-Z]{4,8}$",
  description: "The code of one of your currencies: the page starts after (or ends before) it",
});
const CurrencyListQuery = Type.Object(
  {
    limit: ListQuery.properties.limit,
    starting_after: Type.Optional(CurrencyCursor),
    ending_before: Type.Optional(CurrencyCursor),
  },
  { additionalProperties: false },
);

const ReportRow = Type.Object({
  currency: Type.String(),
  purpose: Type.String(),
  debits: Type.Integer(),
  credits: Type.Integer(),
  balance: Type.Integer(),
  converted: Type.Union([Type.Integer(), Type.Null()]),
});

const Report = Type.Object({
  object: Type.Literal("currency_report"),
  reporting_currency: Type.String(),
  trial_balance: Type.Array(
    Type.Object({
      currency: Type.String(),
      debits: Type.Integer(),
      credits: Type.Integer(),
      balanced: Type.Boolean(),
    }),
  ),
  data: Type.Array(ReportRow),
  rates_used: Type.Array(
    Type.Object({
      currency: Type.String(),
      rate: Type.String(),
      exchange_rate: Type.String(),
      inverted: Type.Boolean(),
    }),
  ),
  unconverted_currencies: Type.Array(Type.String()),
});

/** Inner currencies, exchange rates and the multi-currency report. */
export function currencyRoutes(ctx: RouteContext, currencies: Currencies, reports: CurrencyReports) {
  return async (app: FastifyInstance) => {
    app.post(
      "/currencies",
      {
        schema: {
          tags: ["wallets"],
          operationId: "createCurrency",
          summary: "Define an inner currency",
          body: Type.Object(
            {
              code: Type.String({
                pattern: "^[A-Z]{4,8}$",
                description: "4 to 8 capital letters: never an ISO code.",
              }),
              name: Type.String({ minLength: 1, maxLength: 100 }),
              minor_digits: Type.Integer({ minimum: 0, maximum: 6 }),
            },
            { additionalProperties: false },
          ),
          response: withErrors({ 201: CurrencyObject }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        return ctx.post(request, reply, scope, async (tx) => ({
          statusCode: 201,
          body: JSON.stringify(
            await currencies.createCurrency(
              tx,
              scope,
              request.body as { code: string; name: string; minor_digits: number },
            ),
          ),
        }));
      },
    );
    app.get(
      "/currencies",
      {
        schema: {
          tags: ["wallets"],
          operationId: "listCurrencies",
          summary: "List your inner currencies, newest first",
          querystring: CurrencyListQuery,
          response: withErrors({ 200: listSchema(CurrencyObject) }),
        },
      },
      async (request, reply) => {
        const page = await currencies.listCurrencies(ctx.scope(request), request.query as ListParams);
        return ctx.send(reply, 200, { object: "list", data: page.rows, has_more: page.hasMore });
      },
    );
    app.post(
      "/exchange_rates",
      {
        schema: {
          tags: ["wallets"],
          operationId: "createExchangeRate",
          summary: "Record an exchange rate (the newest valid one is current)",
          body: Type.Object(
            {
              from: CurrencyCode,
              to: CurrencyCode,
              rate: Decimal,
              source: Type.Optional(Type.String({ maxLength: 200 })),
              valid_from: Type.Optional(TimestampInput),
              valid_until: Type.Optional(TimestampInput),
            },
            { additionalProperties: false },
          ),
          response: withErrors({ 201: RateObject }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        return ctx.post(request, reply, scope, async (tx) => ({
          statusCode: 201,
          body: JSON.stringify(
            await currencies.createRate(tx, scope, request.body as Parameters<Currencies["createRate"]>[2]),
          ),
        }));
      },
    );
    app.get(
      "/exchange_rates",
      {
        schema: {
          tags: ["wallets"],
          operationId: "listExchangeRates",
          summary: "The exchange rates recorded, newest first",
          querystring: ListQuery,
          response: withErrors({ 200: listSchema(RateObject) }),
        },
      },
      async (request, reply) => {
        const page = await currencies.listRates(ctx.scope(request), request.query as ListParams);
        return ctx.send(reply, 200, { object: "list", data: page.rows, has_more: page.hasMore });
      },
    );
    app.get(
      "/reports/currencies",
      {
        schema: {
          tags: ["wallets"],
          operationId: "currencyReport",
          summary: "Trial balance per currency and balances converted into a reporting currency",
          querystring: Type.Object(
            { reporting_currency: Type.Optional(CurrencyCode) },
            { additionalProperties: false },
          ),
          response: withErrors({ 200: Report }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        const query = request.query as { reporting_currency?: string };
        return ctx.send(reply, 200, await reports.report(scope, query.reporting_currency));
      },
    );
  };
}
