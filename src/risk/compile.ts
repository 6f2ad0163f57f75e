import { type Facts, isCounter, type ListName, type ListType } from "./attributes.ts";
import {
  type Action,
  type Comparison,
  type Expr,
  type Operand,
  parseRule,
  printRule,
  type RuleAst,
  type RuleError,
} from "./language.ts";

/**
 * A parsed rule compiled once into closures (no eval): what the engine runs for every payment,
 * with the attributes, counters and lists it reads, and its three-valued reading for when some of
 * them are not known yet.
 */

/** Answers whether a value is on a merchant's list; the engine fetches what a payment needs first. */
export type ListLookup = (type: ListType, name: ListName, value: string) => boolean;

type Value = string | number | boolean | undefined;
type Eval = (facts: Facts, lists: ListLookup) => boolean;
type Read = (facts: Facts) => Value;

export interface CompiledRule {
  action: Action;
  /** Canonical text. */
  source: string;
  /** Every attribute the rule reads (recorded with its decisions). */
  attributes: readonly string[];
  /** The velocity counters among them. */
  counters: readonly string[];
  /** Lists it looks values up in, with the attribute looked up. */
  lists: readonly { type: ListType; name: ListName; attribute: string }[];
  matches: Eval;
  /**
   * The rule's outcome before the counters in `pending` and any list look-up are known, or undefined when it depends on them (three-valued: `false and unknown` is false).
   * The engine counts only what some rule still depends on.
   */
  partial: (facts: Facts, pending: ReadonlySet<string>) => boolean | undefined;
}

type Partial3 = (facts: Facts, pending: ReadonlySet<string>) => boolean | undefined;

/** Kleene's three-valued reading of a rule, for `CompiledRule.partial`. */
function compilePartial(e: Expr): Partial3 {
  switch (e.kind) {
    case "or": {
      const l = compilePartial(e.left);
      const r = compilePartial(e.right);
      return (f, p) => {
        const a = l(f, p);
        if (a === true) return true;
        const b = r(f, p);
        if (b === true) return true;
        return a === false && b === false ? false : undefined;
      };
    }
    case "and": {
      const l = compilePartial(e.left);
      const r = compilePartial(e.right);
      return (f, p) => {
        const a = l(f, p);
        if (a === false) return false;
        const b = r(f, p);
        if (b === false) return false;
        return a === true && b === true ? true : undefined;
      };
    }
    case "not": {
      const inner = compilePartial(e.expr);
      return (f, p) => {
        const v = inner(f, p);
        return v === undefined ? undefined : !v;
      };
    }
    case "in":
      if (e.list.kind === "named" && e.operand.kind === "attribute") {
        // A list is looked up whenever the value is known: until then the answer is unknown.
        const name = e.operand.name as keyof Facts;
        return (f) => (f[name] === undefined ? false : undefined);
      }
      return compileLeafPartial(e);
    default:
      return compileLeafPartial(e);
  }
}

/** A comparison or literal-list test: unknown while one of its attributes is pending. */
function compileLeafPartial(e: Extract<Expr, { kind: "operand" | "compare" | "in" }>): Partial3 {
  const names = (e.kind === "compare" ? [e.left, e.right] : [e.operand]).flatMap((o) =>
    o.kind === "attribute" ? [o.name] : [],
  );
  const exact = compileExpr(e, []);
  const never = () => false;
  return (f, p) => (names.some((n) => p.has(n)) ? undefined : exact(f, never));
}

function compileOperand(o: Operand): Read {
  if (o.kind === "attribute") {
    const name = o.name as keyof Facts;
    return (facts) => facts[name];
  }
  const value = o.kind === "null" ? undefined : o.value;
  return () => value;
}

/**
 * An unknown attribute (absent from the facts) equals only `null`, and every other comparison
 * with it is false: `ip_country != country` does not hold when the address's country is unknown.
 */
function compileExpr(e: Expr, lists: CompiledRule["lists"][number][]): Eval {
  switch (e.kind) {
    case "or": {
      const l = compileExpr(e.left, lists);
      const r = compileExpr(e.right, lists);
      return (f, k) => l(f, k) || r(f, k);
    }
    case "and": {
      const l = compileExpr(e.left, lists);
      const r = compileExpr(e.right, lists);
      return (f, k) => l(f, k) && r(f, k);
    }
    case "not": {
      const inner = compileExpr(e.expr, lists);
      return (f, k) => !inner(f, k);
    }
    case "operand": {
      const read = compileOperand(e.operand);
      return (f) => read(f) === true;
    }
    case "compare": {
      const l = compileOperand(e.left);
      const r = compileOperand(e.right);
      const nullLeft = e.left.kind === "null";
      const nullRight = e.right.kind === "null";
      if (nullLeft || nullRight) {
        const other = nullLeft ? r : l;
        return e.op === "=" ? (f) => other(f) === undefined : (f) => other(f) !== undefined;
      }
      // The common shape, an attribute against a constant, reads the fact directly: every rule
      // of a merchant runs for every payment.
      if (e.left.kind === "attribute" && e.right.kind !== "attribute" && e.right.kind !== "null") {
        const name = e.left.name as keyof Facts;
        const constant = e.right.value;
        return compareToConstant(name, e.op, constant);
      }
      const test = COMPARE[e.op];
      return (f) => {
        const a = l(f);
        const b = r(f);
        return a !== undefined && b !== undefined && test(a, b);
      };
    }
    case "in": {
      const read = compileOperand(e.operand);
      const negated = e.negated;
      if (e.list.kind === "literal") {
        const set = new Set(e.list.items.map((item) => (item.kind === "null" ? undefined : item.value)));
        return (f) => {
          const v = read(f);
          return v !== undefined && set.has(v) !== negated;
        };
      }
      const { type, name } = e.list;
      if (e.operand.kind === "attribute") lists.push({ type, name, attribute: e.operand.name });
      return (f, k) => {
        const v = read(f);
        return typeof v === "string" && k(type, name, v) !== negated;
      };
    }
  }
}

function compareToConstant(name: keyof Facts, op: Comparison, c: string | number | boolean): Eval {
  switch (op) {
    case "=":
      return (f) => f[name] === c;
    case "!=":
      return (f) => {
        const a = f[name];
        return a !== undefined && a !== c;
      };
    case "<":
      return (f) => {
        const a = f[name];
        return a !== undefined && a < c;
      };
    case "<=":
      return (f) => {
        const a = f[name];
        return a !== undefined && a <= c;
      };
    case ">":
      return (f) => {
        const a = f[name];
        return a !== undefined && a > c;
      };
    case ">=":
      return (f) => {
        const a = f[name];
        return a !== undefined && a >= c;
      };
  }
}

const COMPARE: Record<Comparison, (a: string | number | boolean, b: string | number | boolean) => boolean> = {
  "=": (a, b) => a === b,
  "!=": (a, b) => a !== b,
  "<": (a, b) => a < b,
  "<=": (a, b) => a <= b,
  ">": (a, b) => a > b,
  ">=": (a, b) => a >= b,
};

function collectAttributes(e: Expr, into: Set<string>): void {
  const add = (o: Operand) => {
    if (o.kind === "attribute") into.add(o.name);
  };
  switch (e.kind) {
    case "or":
    case "and":
      collectAttributes(e.left, into);
      collectAttributes(e.right, into);
      return;
    case "not":
      collectAttributes(e.expr, into);
      return;
    case "operand":
      add(e.operand);
      return;
    case "compare":
      add(e.left);
      add(e.right);
      return;
    case "in":
      add(e.operand);
      return;
  }
}

export function compileAst(rule: RuleAst): CompiledRule {
  const lists: CompiledRule["lists"][number][] = [];
  const matches = compileExpr(rule.condition, lists);
  const attributes = new Set<string>();
  collectAttributes(rule.condition, attributes);
  return {
    action: rule.action,
    source: printRule(rule),
    attributes: [...attributes],
    counters: [...attributes].filter(isCounter),
    lists,
    matches,
    partial: compilePartial(rule.condition),
  };
}

/** Parses, checks and compiles a rule's text. */
export function compileRule(
  text: string,
): { ok: true; rule: CompiledRule } | { ok: false; error: RuleError } {
  const parsed = parseRule(text);
  return parsed.ok ? { ok: true, rule: compileAst(parsed.rule) } : parsed;
}
