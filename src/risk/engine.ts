import type { Facts, ListName, ListType } from "./attributes.ts";
import type { CompiledRule, ListLookup } from "./compile.ts";
import type { Action } from "./language.ts";

/**
 * Decides what happens to one payment from a merchant's active rules and the facts about it. It
 * reads and writes nothing: the caller gathers the facts (counters, list hits) first and records
 * the matches afterwards.
 */

export type RuleMode = "shadow" | "enforce";

export interface ActiveRule {
  id: string;
  name: string;
  mode: RuleMode;
  compiled: CompiledRule;
}

export interface Match {
  rule: ActiveRule;
  /** The attribute values the rule read (null: unknown). */
  values: Record<string, string | number | boolean | null>;
}

export interface Verdict {
  /** What happens: `allow` when no enforced rule matched. */
  action: Action;
  /** The enforced rule that decided it, if any. */
  decidedBy: Match | null;
  /** Every rule that matched, shadow ones included: all are recorded. */
  matches: Match[];
}

/** An enforced `allow` wins (an allow list beats the defaults), then block, review, require_pin. */
const STRENGTH: Record<Action, number> = { allow: 4, block: 3, review: 2, require_pin: 1 };

export function evaluate(rules: readonly ActiveRule[], facts: Facts, lists: ListLookup): Verdict {
  const matches: Match[] = [];
  let decidedBy: Match | null = null;
  for (const rule of rules) {
    if (!rule.compiled.matches(facts, lists)) continue;
    const values: Match["values"] = {};
    for (const name of rule.compiled.attributes) values[name] = facts[name as keyof Facts] ?? null;
    const match = { rule, values };
    matches.push(match);
    if (rule.mode !== "enforce") continue;
    if (!decidedBy || STRENGTH[rule.compiled.action] > STRENGTH[decidedBy.rule.compiled.action])
      decidedBy = match;
  }
  return { action: decidedBy?.rule.compiled.action ?? "allow", decidedBy, matches };
}

/** The list look-ups a payment needs: (type, name, value) for every list rule over known facts. */
export function listProbes(
  rules: readonly ActiveRule[],
  facts: Facts,
): { type: ListType; name: ListName; value: string }[] {
  const probes = new Map<string, { type: ListType; name: ListName; value: string }>();
  for (const rule of rules)
    for (const { type, name, attribute } of rule.compiled.lists) {
      const value = facts[attribute as keyof Facts];
      if (typeof value === "string") probes.set(listKey(type, name, value), { type, name, value });
    }
  return [...probes.values()];
}

/** Type and name come from fixed sets without ':', so the key is unambiguous. */
export function listKey(type: ListType, name: ListName, value: string): string {
  return `${type}:${name}:${value}`;
}
