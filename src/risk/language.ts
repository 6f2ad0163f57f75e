import { type AttributeType, attributeType, LIST_NAMES, type ListName, type ListType } from "./attributes.ts";

/**
 * The rule language (grammar in docs/risk.md): `block if amount > 1000`. A hand-written tokenizer
 * and recursive-descent parser build a tree, which is type-checked against the attribute catalogue
 * (compile.ts turns it into closures once: no eval). Parsing never throws: a bad rule is a named
 * result with the character position where it went wrong.
 */

export const ACTIONS = ["allow", "block", "review", "require_pin"] as const;
export type Action = (typeof ACTIONS)[number];

export const RULE_LIMITS = {
  rule_length_max: 2000,
  nesting_depth_max: 32,
  list_items_max: 1000,
  string_length_max: 200,
} as const;

export type Literal =
  | { kind: "number"; value: number }
  | { kind: "string"; value: string }
  | { kind: "boolean"; value: boolean }
  | { kind: "null" };
export type Operand = Literal | { kind: "attribute"; name: string };
export type Comparison = "=" | "!=" | "<" | "<=" | ">" | ">=";
export type ListRef =
  | { kind: "literal"; items: Literal[] }
  | { kind: "named"; type: ListType; name: ListName };

export type Expr =
  | { kind: "or"; left: Expr; right: Expr }
  | { kind: "and"; left: Expr; right: Expr }
  | { kind: "not"; expr: Expr }
  | { kind: "compare"; op: Comparison; left: Operand; right: Operand }
  | { kind: "in"; negated: boolean; operand: Operand; list: ListRef }
  | { kind: "operand"; operand: Operand };

export interface RuleAst {
  action: Action;
  condition: Expr;
}

export interface RuleError {
  /** 0-based character offset into the rule text. */
  position: number;
  message: string;
}

export type ParseResult = { ok: true; rule: RuleAst } | { ok: false; error: RuleError };

// ---------------------------------------------------------------------------------------------
// Tokens

type TokenKind = "ident" | "number" | "string" | "punct" | "end";
interface Token {
  kind: TokenKind;
  text: string;
  /** The decoded value of a string or number token. */
  value?: string | number;
  position: number;
}

class Failure {
  constructor(readonly error: RuleError) {}
}

function fail(position: number, message: string): never {
  throw new Failure({ position, message });
}

const PUNCTUATION = ["!=", "<=", ">=", "=", "<", ">", "(", ")", "[", "]", ","];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
      tokens.push({ kind: "ident", text: text.slice(start, i), position: start });
      continue;
    }
    if (/[0-9]/.test(c) || (c === "-" && /[0-9]/.test(text[i + 1] ?? ""))) {
      i++;
      while (i < text.length && /[0-9]/.test(text[i]!)) i++;
      if (i < text.length && /[A-Za-z_.]/.test(text[i]!))
        fail(i, "A number is made of digits only (amounts are integers in minor units).");
      const digits = text.slice(start, i);
      const value = Number(digits);
      if (!Number.isSafeInteger(value)) fail(start, `The number ${digits} is too large.`);
      tokens.push({ kind: "number", text: digits, value, position: start });
      continue;
    }
    if (c === '"') {
      i++;
      let value = "";
      for (;;) {
        if (i >= text.length) fail(start, 'This string is not closed (a closing " is missing).');
        const d = text[i]!;
        if (d === '"') break;
        if (d === "\\") {
          const next = text[i + 1];
          if (next !== '"' && next !== "\\") fail(i, 'Only \\" and \\\\ may follow a backslash in a string.');
          value += next;
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      i++;
      if (value.length > RULE_LIMITS.string_length_max)
        fail(start, `A string is at most ${RULE_LIMITS.string_length_max} characters.`);
      tokens.push({ kind: "string", text: text.slice(start, i), value, position: start });
      continue;
    }
    const punct = PUNCTUATION.find((p) => text.startsWith(p, i));
    if (!punct)
      fail(i, `Unexpected character '${c === "'" ? "'" : c}'${c === "'" ? ' (strings use ")' : ""}.`);
    i += punct.length;
    tokens.push({ kind: "punct", text: punct, position: start });
  }
  tokens.push({ kind: "end", text: "", position: text.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser

const KEYWORDS = new Set(["if", "and", "or", "not", "in", "true", "false", "null", "blocklist", "allowlist"]);
const COMPARISONS = new Set<string>(["=", "!=", "<", "<=", ">", ">="]);

class Parser {
  private at = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.at]!;
  }

  private next(): Token {
    const token = this.tokens[this.at]!;
    if (token.kind !== "end") this.at++;
    return token;
  }

  private isWord(word: string): boolean {
    const t = this.peek();
    return t.kind === "ident" && t.text === word;
  }

  private isPunct(p: string): boolean {
    const t = this.peek();
    return t.kind === "punct" && t.text === p;
  }

  private expectPunct(p: string, what: string): void {
    if (!this.isPunct(p))
      fail(this.peek().position, `Expected '${p}' ${what}, found ${describe(this.peek())}.`);
    this.next();
  }

  rule(): RuleAst {
    const first = this.next();
    if (first.kind !== "ident" || !(ACTIONS as readonly string[]).includes(first.text))
      fail(first.position, `A rule starts with an action (${ACTIONS.join(", ")}), found ${describe(first)}.`);
    if (!this.isWord("if"))
      fail(this.peek().position, `Expected 'if' after the action, found ${describe(this.peek())}.`);
    this.next();
    const condition = this.or();
    if (this.peek().kind !== "end")
      fail(
        this.peek().position,
        `Expected 'and', 'or' or the end of the rule, found ${describe(this.peek())}.`,
      );
    return { action: first.text as Action, condition };
  }

  private nest<T>(parse: () => T): T {
    if (++this.depth > RULE_LIMITS.nesting_depth_max)
      fail(this.peek().position, `A rule nests at most ${RULE_LIMITS.nesting_depth_max} levels deep.`);
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private or(): Expr {
    let left = this.and();
    while (this.isWord("or")) {
      this.next();
      left = { kind: "or", left, right: this.and() };
    }
    return left;
  }

  private and(): Expr {
    let left = this.not();
    while (this.isWord("and")) {
      this.next();
      left = { kind: "and", left, right: this.not() };
    }
    return left;
  }

  private not(): Expr {
    if (this.isWord("not")) {
      this.next();
      return this.nest(() => ({ kind: "not", expr: this.not() }));
    }
    return this.comparison();
  }

  private comparison(): Expr {
    if (this.isPunct("(")) {
      this.next();
      const inner = this.nest(() => this.or());
      this.expectPunct(")", "to close the parenthesis");
      return inner;
    }
    const start = this.peek().position;
    const left = this.operand();
    const t = this.peek();
    // Each comparison is type-checked where it is read, so its error points at it.
    if (t.kind === "punct" && COMPARISONS.has(t.text)) {
      this.next();
      return typed(t.position, { kind: "compare", op: t.text as Comparison, left, right: this.operand() });
    }
    if (this.isWord("in")) {
      this.next();
      return typed(t.position, { kind: "in", negated: false, operand: left, list: this.list() });
    }
    if (this.isWord("not")) {
      this.next();
      if (!this.isWord("in"))
        fail(this.peek().position, `Expected 'in' after 'not', found ${describe(this.peek())}.`);
      this.next();
      return typed(t.position, { kind: "in", negated: true, operand: left, list: this.list() });
    }
    return typed(start, { kind: "operand", operand: left });
  }

  private list(): ListRef {
    const t = this.peek();
    if (t.kind === "ident" && (t.text === "blocklist" || t.text === "allowlist")) {
      this.next();
      this.expectPunct("(", `after ${t.text}`);
      const name = this.next();
      if (name.kind !== "string" || !(LIST_NAMES as readonly string[]).includes(name.value as string))
        fail(name.position, `A list is one of ${LIST_NAMES.map((n) => `"${n}"`).join(", ")}.`);
      this.expectPunct(")", "to close the list name");
      return { kind: "named", type: t.text, name: name.value as ListName };
    }
    if (!this.isPunct("["))
      fail(
        t.position,
        `Expected a list ([...], blocklist("...") or allowlist("...")), found ${describe(t)}.`,
      );
    this.next();
    const items: Literal[] = [];
    if (!this.isPunct("]")) {
      for (;;) {
        const item = this.operand();
        if (item.kind === "attribute")
          fail(this.tokens[this.at - 1]!.position, "A list holds values, not attributes.");
        items.push(item);
        if (items.length > RULE_LIMITS.list_items_max)
          fail(this.peek().position, `A list holds at most ${RULE_LIMITS.list_items_max} values.`);
        if (!this.isPunct(",")) break;
        this.next();
      }
    }
    this.expectPunct("]", "to close the list");
    return { kind: "literal", items };
  }

  private operand(): Operand {
    const t = this.next();
    if (t.kind === "number") return { kind: "number", value: t.value as number };
    if (t.kind === "string") return { kind: "string", value: t.value as string };
    if (t.kind === "ident") {
      if (t.text === "true" || t.text === "false") return { kind: "boolean", value: t.text === "true" };
      if (t.text === "null") return { kind: "null" };
      if (KEYWORDS.has(t.text)) fail(t.position, `Expected a value or an attribute, found '${t.text}'.`);
      if (attributeType(t.text) === undefined)
        fail(
          t.position,
          `Unknown attribute '${t.text}' (docs/risk.md lists them); a text value is written in quotes, like "${t.text}".`,
        );
      return { kind: "attribute", name: t.text };
    }
    return fail(t.position, `Expected a value or an attribute, found ${describe(t)}.`);
  }
}

function describe(t: Token): string {
  return t.kind === "end"
    ? "the end of the rule"
    : `'${t.text.length > 20 ? `${t.text.slice(0, 20)}…` : t.text}'`;
}

// ---------------------------------------------------------------------------------------------
// Types: every comparison is checked when the rule is saved, not when a payment is evaluated.

type OperandType = AttributeType | "null";

function operandType(o: Operand): OperandType {
  if (o.kind === "attribute") return attributeType(o.name)!;
  return o.kind === "null" ? "null" : o.kind;
}

function check(e: Expr): string | undefined {
  switch (e.kind) {
    case "or":
    case "and":
      return check(e.left) ?? check(e.right);
    case "not":
      return check(e.expr);
    case "operand": {
      const t = operandType(e.operand);
      return t === "boolean"
        ? undefined
        : `${show(e.operand)} is not true or false; compare it with a value.`;
    }
    case "compare": {
      const l = operandType(e.left);
      const r = operandType(e.right);
      if (e.op === "=" || e.op === "!=")
        return l === r || l === "null" || r === "null"
          ? undefined
          : `${show(e.left)} and ${show(e.right)} cannot be compared.`;
      return l === "number" && r === "number" ? undefined : `'${e.op}' compares numbers only.`;
    }
    case "in": {
      const t = operandType(e.operand);
      if (e.list.kind === "named")
        return t === "string" ? undefined : `Lists hold strings; ${show(e.operand)} is not one.`;
      const bad = e.list.items.find((item) => operandType(item) !== t);
      return bad ? `${show(bad)} in the list is not of the type of ${show(e.operand)}.` : undefined;
    }
  }
}

/** A comparison whose types agree, or a failure at `position` (its operator, or its operand). */
function typed(position: number, e: Expr): Expr {
  const problem = check(e);
  if (problem) fail(position, problem);
  return e;
}

function show(o: Operand): string {
  return printOperand(o);
}

/** Parses and type-checks a rule. Never throws on any input. */
export function parseRule(text: string): ParseResult {
  if (text.length > RULE_LIMITS.rule_length_max)
    return {
      ok: false,
      error: {
        position: RULE_LIMITS.rule_length_max,
        message: `A rule is at most ${RULE_LIMITS.rule_length_max} characters.`,
      },
    };
  try {
    // Types are checked as each comparison is read (`typed`), with its position.
    return { ok: true, rule: new Parser(tokenize(text)).rule() };
  } catch (error) {
    if (error instanceof Failure) return { ok: false, error: error.error };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Printing: one canonical form (the API shows it; parse(print(x)) = x).

function printLiteral(l: Literal): string {
  switch (l.kind) {
    case "number":
      return String(l.value);
    case "string":
      return `"${l.value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
    case "boolean":
      return String(l.value);
    case "null":
      return "null";
  }
}

function printOperand(o: Operand): string {
  return o.kind === "attribute" ? o.name : printLiteral(o);
}

const PRECEDENCE = { or: 1, and: 2, not: 3, compare: 4, in: 4, operand: 4 } as const;

function printExpr(e: Expr, parent: number): string {
  const mine = PRECEDENCE[e.kind];
  let text: string;
  switch (e.kind) {
    case "or":
    case "and":
      // Left-associative: a right child of the same kind needs parentheses.
      text = `${printExpr(e.left, mine)} ${e.kind} ${printExpr(e.right, mine + 0.5)}`;
      break;
    case "not":
      text = `not ${printExpr(e.expr, mine)}`;
      break;
    case "compare":
      text = `${printOperand(e.left)} ${e.op} ${printOperand(e.right)}`;
      break;
    case "in": {
      const list =
        e.list.kind === "named"
          ? `${e.list.type}("${e.list.name}")`
          : `[${e.list.items.map(printLiteral).join(", ")}]`;
      text = `${printOperand(e.operand)} ${e.negated ? "not in" : "in"} ${list}`;
      break;
    }
    case "operand":
      text = printOperand(e.operand);
      break;
  }
  return mine < parent ? `(${text})` : text;
}

export function printRule(rule: RuleAst): string {
  return `${rule.action} if ${printExpr(rule.condition, 0)}`;
}

// ---------------------------------------------------------------------------------------------
// Compilation
