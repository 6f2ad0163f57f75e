/** The schemas of the risk routes (routes.ts): the merchants' and the platform's. */
import { type TSchema, Type } from "@sinclair/typebox";
import { ErrorBody, IdOf, ListQuery, StringEnum } from "../http/index.ts";
import { LIST_NAMES } from "./attributes.ts";
import { ACTIONS, RULE_LIMITS } from "./language.ts";

export const tags = ["risk"];

/** The usual error answers of these routes. */
export function answers(ok: Record<number, TSchema>, ...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = { ...ok };
  for (const status of [400, 401, 403, 429, ...statuses]) out[status] = ErrorBody;
  return out;
}

export const RuleText = Type.String({
  minLength: 1,
  maxLength: RULE_LIMITS.rule_length_max,
  description:
    'A rule of the risk language (docs/risk.md), e.g. `block if amount > 1000` or `review if payments_per_msisdn_1h >= 5 and method = "carrier"`. Amounts are in minor units.',
});
export const RuleName = Type.String({ minLength: 1, maxLength: 100 });
export const RuleMode = StringEnum(["shadow", "enforce"] as const);

export const RiskRule = Type.Object({
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

export const ListEntry = Type.Object({
  id: Type.String(),
  object: Type.Literal("risk_list_entry"),
  created: Type.String({ format: "date-time" }),
  livemode: Type.Boolean(),
  list_type: StringEnum(["blocklist", "allowlist"] as const),
  list: StringEnum(LIST_NAMES),
  value: Type.String(),
  deleted: Type.Optional(Type.Boolean()),
});

export const Decision = Type.Object({
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

export const CreateRuleBody = Type.Object(
  { name: RuleName, rule: RuleText, mode: Type.Optional(RuleMode) },
  { additionalProperties: false },
);
export const UpdateRuleBody = Type.Object(
  {
    name: Type.Optional(RuleName),
    rule: Type.Optional(RuleText),
    mode: Type.Optional(StringEnum(["shadow", "enforce", "disabled"] as const)),
  },
  { additionalProperties: false },
);
export const ListEntryBody = Type.Object(
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
export const ListEntriesQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      list_type: Type.Optional(StringEnum(["blocklist", "allowlist"] as const)),
      list: Type.Optional(StringEnum(LIST_NAMES)),
    }),
  ],
  { additionalProperties: false },
);
export const DecisionsQuery = Type.Composite(
  [ListQuery, Type.Object({ payment: Type.Optional(IdOf("pay", "Only this payment's decisions.")) })],
  { additionalProperties: false },
);
