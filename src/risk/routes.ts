import type { FastifyRequest } from "fastify";
import { type Api, IdParams, ListQuery, listBody, listOf, type Routes, sendJson } from "../http/index.ts";
import type { AuthScope } from "../platform/scope.ts";
import {
  answers,
  CreateRuleBody,
  Decision,
  DecisionsQuery,
  ListEntriesQuery,
  ListEntry,
  ListEntryBody,
  RiskRule,
  tags,
  UpdateRuleBody,
} from "./routes-schemas.ts";
import type { Risk } from "./service.ts";
import { SIGNIN_SCOPE } from "./signin.ts";

/** Whose rules a set of routes manages, and how its paths, operation ids and summaries read. */
interface RiskSurface {
  prefix: "" | "/platform";
  scopeOf: (request: FastifyRequest) => AuthScope;
  operationId: (merchantOperationId: string) => string;
  summary: (merchantSummary: string) => string;
}

/** Risk rules, lists and decisions, on the secret-key surface (docs/risk.md). */
export const riskRoutes: Routes<Risk> = async (app, risk) =>
  registerRiskRoutes(app, risk, {
    prefix: "",
    scopeOf: (request) => request.scope,
    operationId: (id) => id,
    summary: (text) => text,
  });

/**
 * The platform's own risk rules, lists and decisions (`SIGNIN_SCOPE`, merchant "platform"), on the
 * admin surface: the admin key, or platform staff holding `risk:platform`. They decide payers'
 * sign-ins (codes asked for, codes and passwords tried) and nothing else: a merchant's payments
 * are judged by that merchant's rules only (docs/risk.md, "The platform's rules").
 */
export const platformRiskRoutes: Routes<Risk> = async (app, risk) =>
  registerRiskRoutes(app, risk, {
    prefix: "/platform",
    scopeOf: () => SIGNIN_SCOPE,
    operationId: (id) => id.replace("Risk", "PlatformRisk"),
    summary: (text) => `${text} (the platform's, for payer sign-ins)`,
  });

/** The same routes for a merchant's rules and for the platform's: only the scope differs. */
async function registerRiskRoutes(app: Api, risk: Risk, surface: RiskSurface): Promise<void> {
  const { prefix, scopeOf } = surface;
  const about = (operationId: string, summary: string) => ({
    tags,
    operationId: surface.operationId(operationId),
    summary: surface.summary(summary),
  });

  app.post(
    `${prefix}/risk_rules`,
    {
      schema: {
        ...about("createRiskRule", "Create a risk rule (in shadow mode unless `mode` says enforce)"),
        body: CreateRuleBody,
        response: answers({ 201: RiskRule }, 409),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx, nowMs) => risk.settings.createRule(tx, scopeOf(request), request.body, nowMs),
      }),
  );
  app.get(
    `${prefix}/risk_rules`,
    {
      schema: {
        ...about("listRiskRules", "List the risk rules, the default ones included"),
        querystring: ListQuery,
        response: answers({ 200: listOf(RiskRule) }),
      },
    },
    async (request, reply) => {
      const page = await risk.settings.listRules(scopeOf(request), request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    `${prefix}/risk_rules/:id`,
    {
      schema: {
        ...about("getRiskRule", "Retrieve a risk rule"),
        params: IdParams,
        response: answers({ 200: RiskRule }, 404),
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await risk.settings.getRule(scopeOf(request), request.params.id)),
  );
  app.post(
    `${prefix}/risk_rules/:id`,
    {
      schema: {
        ...about(
          "updateRiskRule",
          "Change a risk rule: switch it between shadow and enforce, disable it, or rewrite it",
        ),
        params: IdParams,
        body: UpdateRuleBody,
        response: answers({ 200: RiskRule }, 404, 409),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 200,
        work: (tx, nowMs) =>
          risk.settings.updateRule(tx, scopeOf(request), request.params.id, request.body, nowMs),
      }),
  );
  app.delete(
    `${prefix}/risk_rules/:id`,
    {
      schema: {
        ...about(
          "disableRiskRule",
          "Disable a risk rule (kept, with its decisions; it can be switched on again)",
        ),
        params: IdParams,
        response: answers({ 200: RiskRule }, 404),
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await risk.settings.disableRule(scopeOf(request), request.params.id)),
  );

  app.post(
    `${prefix}/risk_list_entries`,
    {
      schema: {
        ...about(
          "createRiskListEntry",
          "Put a value on a block or allow list (numbers, addresses, card fingerprints, countries)",
        ),
        body: ListEntryBody,
        response: answers({ 201: ListEntry }, 409),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx, nowMs) => risk.settings.addListEntry(tx, scopeOf(request), request.body, nowMs),
      }),
  );
  app.get(
    `${prefix}/risk_list_entries`,
    {
      schema: {
        ...about("listRiskListEntries", "List the values on the block and allow lists"),
        querystring: ListEntriesQuery,
        response: answers({ 200: listOf(ListEntry) }),
      },
    },
    async (request, reply) => {
      const { list_type, list, ...page } = request.query;
      const result = await risk.settings.listEntries(
        scopeOf(request),
        { ...(list_type ? { list_type } : {}), ...(list ? { list } : {}) },
        page,
      );
      return sendJson(reply, 200, listBody(result.rows, result.hasMore));
    },
  );
  app.delete(
    `${prefix}/risk_list_entries/:id`,
    {
      schema: {
        ...about("deleteRiskListEntry", "Take a value off its list"),
        params: IdParams,
        response: answers({ 200: ListEntry }, 404),
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await risk.settings.removeListEntry(scopeOf(request), request.params.id)),
  );

  app.get(
    `${prefix}/risk_decisions`,
    {
      schema: {
        ...about(
          "listRiskDecisions",
          "List risk decisions (every rule that matched, shadow ones too), newest first",
        ),
        querystring: DecisionsQuery,
        response: answers({ 200: listOf(Decision) }),
      },
    },
    async (request, reply) => {
      const { payment, ...page } = request.query;
      const result = await risk.settings.decisions(scopeOf(request), payment ? { payment } : {}, page);
      return sendJson(reply, 200, listBody(result.rows, result.hasMore));
    },
  );
}
