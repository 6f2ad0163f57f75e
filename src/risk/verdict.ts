import { getOperator } from "../connectors/index.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { Facts } from "./attributes.ts";
import type { Action } from "./language.ts";
import type { Subjects } from "./velocity.ts";

/** What the flows tell the risk engine about an attempt, before any money moves. */
export interface RiskSubject {
  flow: "payment" | "checkout" | "subscription" | "redemption" | "signin";
  /** The payment the decision is about, when there is one. */
  paymentId?: string;
  amount?: bigint | number;
  currency?: string;
  method?: string;
  msisdn?: string;
  operator?: string;
  country?: string;
  customer?: string;
  ip?: string;
  ipCountry?: string;
  app?: string;
  pageOpenMs?: number;
  framed?: boolean;
  /** A card number: only its keyed fingerprint is kept. */
  cardNumber?: string;
}

/** Observations are not among them: the engine writes those itself (observations.ts). */
export type RiskRowTable = "risk_decisions";

export interface RiskVerdict {
  action: Action;
  /** The enforced rule that decided, when one did. */
  rule: { id: string; name: string } | null;
  /**
   * The decision of the rule that decided (block, review, require a PIN): committed with whatever
   * the flow writes, so what changed an attempt's fate is never lost with it.
   */
  rows: { table: RiskRowTable; row: Record<string, unknown> }[];
  /**
   * Decisions of rules that matched but decided nothing (shadow rules, weaker enforced ones):
   * handed to `log()` once the flow's object exists, and written off its commit (docs/risk.md).
   */
  logged: Record<string, unknown>[];
  /** Who the attempt was about, for failures observed later (a decline). */
  subjects: Subjects;
}

export type ObservedFailure = "decline" | "pin_failure" | "voucher_failure";

/** The seam the payment flows call (src/payments declares what it needs of it). */
export interface RiskGate {
  assess(scope: AuthScope, subject: RiskSubject, nowMs: number): Promise<RiskVerdict>;
  /** `assess` without a promise when nothing must be read first; null: call `assess`. */
  assessNow(scope: AuthScope, subject: RiskSubject, nowMs: number): RiskVerdict | null;
  observe(scope: AuthScope, kind: ObservedFailure, subjects: Subjects, nowMs: number): Promise<void>;
  /** Writes a verdict's decisions on their own (flows that do not commit them with their own rows). */
  record(verdict: Pick<RiskVerdict, "rows" | "logged">): Promise<void>;
  /** Queues the decisions that decided nothing, once the object they are about was written. */
  log(decisions: RiskVerdict["logged"]): void;
  subjectsOf(
    scope: AuthScope,
    about: { ip?: string; msisdn?: string; cardNumber?: string },
  ): Promise<Subjects>;
}

/**
 * What the rules read of an attempt, assigned one by one (this runs for every payment). `country`:
 * what the flow says, else the carrier operator's (MCC+MNC → the registry's country), so that
 * `ip_country != country` works for carrier payments from the API and checkout alike.
 */
export function factsOf(subject: RiskSubject, subjects: Subjects): Facts {
  const facts: Facts = { flow: subject.flow };
  if (subject.amount !== undefined) facts.amount = Number(subject.amount);
  if (subject.currency) facts.currency = subject.currency;
  if (subject.method) facts.method = subject.method;
  if (subject.operator) facts.operator = subject.operator;
  const country = subject.country || (subject.operator ? getOperator(subject.operator)?.country : undefined);
  if (country) facts.country = country;
  if (subject.customer) facts.customer = subject.customer;
  if (subject.ipCountry) facts.ip_country = subject.ipCountry;
  if (subject.app) facts.app = subject.app;
  if (subject.pageOpenMs !== undefined) facts.page_open_ms = subject.pageOpenMs;
  if (subject.framed !== undefined) facts.framed = subject.framed;
  if (subjects.ip) facts.ip = subjects.ip;
  if (subjects.msisdn) facts.msisdn = subjects.msisdn;
  if (subjects.msisdnRange) facts.msisdn_range = subjects.msisdnRange;
  if (subjects.cardFingerprint) facts.card_fingerprint = subjects.cardFingerprint;
  return facts;
}
