import { IdParams, ListQuery, listBody, listOf, type Routes, sendJson } from "../http/index.ts";
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

/** Risk rules, lists and decisions, on the secret-key surface (docs/risk.md). */
export const riskRoutes: Routes<Risk> = async (app, risk) => {
  app.post(
    "/risk_rules",
    {
      schema: {
        tags,
        operationId: "createRiskRule",
        summary: "Create a risk rule (in shadow mode unless `mode` says enforce)",
        body: CreateRuleBody,
        response: answers({ 201: RiskRule }, 409),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx, nowMs) => risk.createRule(tx, request.scope, request.body, nowMs),
      }),
  );
  app.get(
    "/risk_rules",
    {
      schema: {
        tags,
        operationId: "listRiskRules",
        summary: "List the risk rules, the default ones included",
        querystring: ListQuery,
        response: answers({ 200: listOf(RiskRule) }),
      },
    },
    async (request, reply) => {
      const page = await risk.listRules(request.scope, request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/risk_rules/:id",
    {
      schema: {
        tags,
        operationId: "getRiskRule",
        summary: "Retrieve a risk rule",
        params: IdParams,
        response: answers({ 200: RiskRule }, 404),
      },
    },
    async (request, reply) => sendJson(reply, 200, await risk.getRule(request.scope, request.params.id)),
  );
  app.post(
    "/risk_rules/:id",
    {
      schema: {
        tags,
        operationId: "updateRiskRule",
        summary: "Change a risk rule: switch it between shadow and enforce, disable it, or rewrite it",
        params: IdParams,
        body: UpdateRuleBody,
        response: answers({ 200: RiskRule }, 404, 409),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 200,
        work: (tx, nowMs) => risk.updateRule(tx, request.scope, request.params.id, request.body, nowMs),
      }),
  );
  app.delete(
    "/risk_rules/:id",
    {
      schema: {
        tags,
        operationId: "disableRiskRule",
        summary: "Disable a risk rule (kept, with its decisions; it can be switched on again)",
        params: IdParams,
        response: answers({ 200: RiskRule }, 404),
      },
    },
    async (request, reply) => sendJson(reply, 200, await risk.disableRule(request.scope, request.params.id)),
  );

  app.post(
    "/risk_list_entries",
    {
      schema: {
        tags,
        operationId: "createRiskListEntry",
        summary: "Put a value on a block or allow list (numbers, addresses, card fingerprints, countries)",
        body: ListEntryBody,
        response: answers({ 201: ListEntry }, 409),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx, nowMs) => risk.addListEntry(tx, request.scope, request.body, nowMs),
      }),
  );
  app.get(
    "/risk_list_entries",
    {
      schema: {
        tags,
        operationId: "listRiskListEntries",
        summary: "List the values on the block and allow lists",
        querystring: ListEntriesQuery,
        response: answers({ 200: listOf(ListEntry) }),
      },
    },
    async (request, reply) => {
      const { list_type, list, ...page } = request.query;
      const result = await risk.listEntries(
        request.scope,
        { ...(list_type ? { list_type } : {}), ...(list ? { list } : {}) },
        page,
      );
      return sendJson(reply, 200, listBody(result.rows, result.hasMore));
    },
  );
  app.delete(
    "/risk_list_entries/:id",
    {
      schema: {
        tags,
        operationId: "deleteRiskListEntry",
        summary: "Take a value off its list",
        params: IdParams,
        response: answers({ 200: ListEntry }, 404),
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await risk.removeListEntry(request.scope, request.params.id)),
  );

  app.get(
    "/risk_decisions",
    {
      schema: {
        tags,
        operationId: "listRiskDecisions",
        summary: "List risk decisions (every rule that matched, shadow ones too), newest first",
        querystring: DecisionsQuery,
        response: answers({ 200: listOf(Decision) }),
      },
    },
    async (request, reply) => {
      const { payment, ...page } = request.query;
      const result = await risk.decisions(request.scope, payment ? { payment } : {}, page);
      return sendJson(reply, 200, listBody(result.rows, result.hasMore));
    },
  );
};

/**
 * The platform's own risk rules, lists and decisions (`SIGNIN_SCOPE`, merchant "platform"), on the
 * admin surface: the admin key, or platform staff holding `risk:platform`. They decide payers'
 * sign-ins (codes asked for, codes and passwords tried) and nothing else: a merchant's payments
 * are judged by that merchant's rules only (docs/risk.md, "The platform's rules").
 */
export const platformRiskRoutes: Routes<Risk> = async (app, risk) => {
  const platform = { ...SIGNIN_SCOPE };
  const about = " (the platform's, for payer sign-ins)";
  app.post(
    "/platform/risk_rules",
    {
      schema: {
        tags,
        operationId: "createPlatformRiskRule",
        summary: `Create a risk rule${about}, in shadow mode unless \`mode\` says enforce`,
        body: CreateRuleBody,
        response: answers({ 201: RiskRule }, 409),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx, nowMs) => risk.createRule(tx, platform, request.body, nowMs),
      }),
  );
  app.get(
    "/platform/risk_rules",
    {
      schema: {
        tags,
        operationId: "listPlatformRiskRules",
        summary: `List the risk rules${about}, the default ones included`,
        querystring: ListQuery,
        response: answers({ 200: listOf(RiskRule) }),
      },
    },
    async (request, reply) => {
      const page = await risk.listRules(platform, request.query);
      return sendJson(reply, 200, listBody(page.rows, page.hasMore));
    },
  );
  app.get(
    "/platform/risk_rules/:id",
    {
      schema: {
        tags,
        operationId: "getPlatformRiskRule",
        summary: `Retrieve a risk rule${about}`,
        params: IdParams,
        response: answers({ 200: RiskRule }, 404),
      },
    },
    async (request, reply) => sendJson(reply, 200, await risk.getRule(platform, request.params.id)),
  );
  app.post(
    "/platform/risk_rules/:id",
    {
      schema: {
        tags,
        operationId: "updatePlatformRiskRule",
        summary: `Change a risk rule${about}: shadow, enforce or disabled, or rewrite it`,
        params: IdParams,
        body: UpdateRuleBody,
        response: answers({ 200: RiskRule }, 404, 409),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 200,
        work: (tx, nowMs) => risk.updateRule(tx, platform, request.params.id, request.body, nowMs),
      }),
  );
  app.post(
    "/platform/risk_list_entries",
    {
      schema: {
        tags,
        operationId: "createPlatformRiskListEntry",
        summary: `Put a value on a block or allow list${about}`,
        body: ListEntryBody,
        response: answers({ 201: ListEntry }, 409),
      },
    },
    async (request, reply) =>
      app.writes.transaction(request, reply, {
        status: 201,
        work: (tx, nowMs) => risk.addListEntry(tx, platform, request.body, nowMs),
      }),
  );
  app.get(
    "/platform/risk_list_entries",
    {
      schema: {
        tags,
        operationId: "listPlatformRiskListEntries",
        summary: `List the values on the block and allow lists${about}`,
        querystring: ListEntriesQuery,
        response: answers({ 200: listOf(ListEntry) }),
      },
    },
    async (request, reply) => {
      const { list_type, list, ...page } = request.query;
      const result = await risk.listEntries(
        platform,
        { ...(list_type ? { list_type } : {}), ...(list ? { list } : {}) },
        page,
      );
      return sendJson(reply, 200, listBody(result.rows, result.hasMore));
    },
  );
  app.delete(
    "/platform/risk_list_entries/:id",
    {
      schema: {
        tags,
        operationId: "deletePlatformRiskListEntry",
        summary: `Take a value off its list${about}`,
        params: IdParams,
        response: answers({ 200: ListEntry }, 404),
      },
    },
    async (request, reply) => sendJson(reply, 200, await risk.removeListEntry(platform, request.params.id)),
  );
  app.get(
    "/platform/risk_decisions",
    {
      schema: {
        tags,
        operationId: "listPlatformRiskDecisions",
        summary: `List the decisions on payer sign-ins (rules and throttles), newest first`,
        querystring: DecisionsQuery,
        response: answers({ 200: listOf(Decision) }),
      },
    },
    async (request, reply) => {
      const { payment, ...page } = request.query;
      const result = await risk.decisions(platform, payment ? { payment } : {}, page);
      return sendJson(reply, 200, listBody(result.rows, result.hasMore));
    },
  );
};
