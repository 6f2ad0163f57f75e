/**
 * The risk engine (docs/risk.md): a rule language over attributes of a payment, lists, velocity
 * counters, decisions recorded per payment, and the defaults that protect a new merchant.
 */
export { ATTRIBUTE_NAMES, COUNTERS, LIST_NAMES, PLAIN_ATTRIBUTES } from "./attributes.ts";
export { type CompiledRule, compileRule } from "./compile.ts";
export { DEFAULT_RULES } from "./defaults.ts";
export { type ActiveRule, evaluate, type Verdict } from "./engine.ts";
export { ACTIONS, type Action, parseRule, printRule } from "./language.ts";
export { ensureRiskPartitions } from "./partitions.ts";
export { Risk, RULES_POLL_MS } from "./service.ts";
export { ipCountryFrom, SIGNIN_SCOPE, type SignInAttempt, SignInRisk } from "./signin.ts";
export type { Subjects } from "./velocity.ts";
export type { ObservedFailure, RiskGate, RiskRowTable, RiskSubject, RiskVerdict } from "./verdict.ts";
