import { type TSchema, Type } from "@sinclair/typebox";
import {
  ErrorBody,
  IdParams,
  ListQuery,
  listBody,
  listOf,
  type Routes,
  StringEnum,
  sendJson,
} from "../http/index.ts";
import { LIST_NAMES } from "./attributes.ts";
import { ACTIONS, RULE_LIMITS } from "./language.ts";
import type { Risk } from "./service.ts";

const tags = ["risk"];

/** The usual error answers of these routes. */
function answers(ok: Record<number, TSchema>, ...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = { ...ok };
  for (const status of [400, 401, 403, 429, ...statuses]) out[status] = ErrorBody;
  return out;
}

const RuleText = Type.String({
  minLength: 1,
  maxLength: RULE_LIMITS.rule_length_max,
  description:
    'A rule of the risk language (docs/risk.md), e.g. `block if amount > 1000` or `review if payments_per_msisdn_1h >= 5 and method = "carrier"`. Amounts are in minor units.',
});
const RuleName = Type.String({ minLength: 1, maxLength: 100 });
const RuleMode = StringEnum(["shadow", "enforce"] as const);

const RiskRule = Type.Object({
  id: Type.String(),
  object: Type.Literal("risk_rule"),
  created: Type.String({ format: "date-time" }),
  updated: Type.String({ format: "date-time" }),
  livemode: Type.Boolean(),
  name: Type.String(),
  rule: Type.String({ description: "The rule in its canonical form." }),
  action: StringEnum(ACTIONS),
  mode: Type.String({
    enum: ["shadow", "enforce", "disabled"],
    description: "shadow: decisions are recorded, nothing is blocked; enforce: the action applies.",
  }),
  default: Type.Boolean({ description: "One of the rules every merchant starts with." }),
});

const ListEntry = Type.Object({
  id: Type.String(),
  object: Type.Literal("risk_list_entry"),
  created: Type.String({ format: "date-time" }),
  livemode: Type.Boolean(),
  list_type: StringEnum(["blocklist", "allowlist"] as const),
  list: StringEnum(LIST_NAMES),
  value: Type.String(),
  deleted: Type.Optional(Type.Boolean()),
});

const Decision = Type.Object({
  id: Type.String(),
  object: Type.Literal("risk_decision"),
  created: Type.String({ format: "date-time" }),
  livemode: Type.Boolean(),
  payment: Type.Union([Type.String(), Type.Null()]),
  flow: Type.String(),
  rule: Type.String({ description: "The id of the rule that matched." }),
  rule_name: Type.String(),
  rule_text: Type.String(),
  action: StringEnum(ACTIONS),
  mode: StringEnum(["shadow", "enforce"] as const),
  applied: Type.Boolean({ description: "Whether this rule decided what happened to the payment." }),
  attribute_values: Type.Record(
    Type.String(),
    Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]),
    {
      description: "The values of the attributes the rule read (null: unknown).",
    },
  ),
});

const CreateRuleBody = Type.Object(
  { name: RuleName, rule: RuleText, mode: Type.Optional(RuleMode) },
  { additionalProperties: false },
);
const UpdateRuleBody = Type.Object(
  {
    name: Type.Optional(RuleName),
    rule: Type.Optional(RuleText),
    mode: Type.Optional(StringEnum(["shadow", "enforce", "disabled"] as const)),
  },
  { additionalProperties: false },
);
const ListEntryBody = Type.Object(
  {
    list_type: StringEnum(["blocklist", "allowlist"] as const),
    list: StringEnum(LIST_NAMES),
    value: Type.String({
      minLength: 1,
      maxLength: 200,
      description: "An E.164 number, an address, a card fingerprint (fp_…) or a country code.",
    }),
  },
  { additionalProperties: false },
);
const ListEntriesQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      list_type: Type.Optional(StringEnum(["blocklist", "allowlist"] as const)),
      list: Type.Optional(StringEnum(LIST_NAMES)),
    }),
  ],
  { additionalProperties: false },
);
const DecisionsQuery = Type.Composite(
  [ListQuery, Type.Object({ payment: Type.Optional(Type.String({ maxLength: 64 })) })],
  { additionalProperties: false },
);

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
