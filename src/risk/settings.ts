import type { Db, Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import { type Clock, iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope, Mode } from "../platform/scope.ts";
import type { ListName, ListType } from "./attributes.ts";
import { compileRule } from "./compile.ts";
import { DEFAULT_NAME_PREFIX } from "./defaults.ts";
import type { RuleMode } from "./engine.ts";
import type { Action } from "./language.ts";

/** A row of `risk_rules`; the gate (service.ts) loads the same rows to decide. */
export interface RuleRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  name: string;
  rule: string;
  action: Action;
  status: RuleMode | "disabled";
  origin: "merchant" | "default";
  created: Date;
  updated: Date;
}

interface ListEntryRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  list_type: ListType;
  list: ListName;
  value: string;
  created: Date;
}

interface DecisionRow {
  id: string;
  created: Date;
  payment_id: string | null;
  flow: string;
  rule_id: string;
  rule_name: string;
  rule: string;
  action: Action;
  rule_mode: RuleMode;
  decided: boolean;
  attribute_values: Record<string, unknown>;
  mode: Mode;
}

function presentRule(r: RuleRow) {
  return {
    id: r.id,
    object: "risk_rule" as const,
    created: iso(r.created.getTime()),
    updated: iso(r.updated.getTime()),
    livemode: r.mode === "live",
    name: r.name,
    rule: r.rule,
    action: r.action,
    mode: r.status,
    default: r.origin === "default",
  };
}

function presentListEntry(r: ListEntryRow) {
  return {
    id: r.id,
    object: "risk_list_entry" as const,
    created: iso(r.created.getTime()),
    livemode: r.mode === "live",
    list_type: r.list_type,
    list: r.list,
    value: r.value,
  };
}

function presentDecision(r: DecisionRow) {
  return {
    id: r.id,
    object: "risk_decision" as const,
    created: iso(r.created.getTime()),
    livemode: r.mode === "live",
    payment: r.payment_id,
    flow: r.flow,
    rule: r.rule_id,
    rule_name: r.rule_name,
    rule_text: r.rule,
    action: r.action,
    mode: r.rule_mode,
    applied: r.decided,
    attribute_values: r.attribute_values,
  };
}

/** A rule's text, compiled, or the 400 that names the field and where the text went wrong. */
function compileOrRefuse(text: string) {
  const compiled = compileRule(text);
  if (!compiled.ok)
    throw new ApiError(
      "parameter_invalid",
      "rule",
      `${compiled.error.message} (at character ${compiled.error.position + 1} of rule)`,
    );
  return compiled.rule;
}

/** How a list stores its values: countries upper-case, the rest as given (trimmed). */
function normalizeListValue(list: ListName, value: string): string {
  const trimmed = value.trim();
  if (list === "countries") {
    if (!/^[A-Za-z]{2}$/.test(trimmed))
      throw new ApiError("parameter_invalid", "value", "A country is an ISO 3166-1 alpha-2 code.");
    return trimmed.toUpperCase();
  }
  if (trimmed.length === 0) throw new ApiError("parameter_invalid", "value", "The value is empty.");
  return trimmed;
}

/** What the settings need of the gate (service.ts) that decides with them. */
export interface SettingsGate {
  /** Drops the merchant's rules and lists from memory after an edit: the next payment reloads them. */
  forget(scope: AuthScope): void;
  /** Loads the merchant's rules once (which makes its default rules the first time). */
  ensureLoaded(scope: AuthScope): Promise<unknown>;
  /** Writes the decisions still buffered in this process (readers see them at once). */
  flushDecisions(): Promise<boolean>;
}

/**
 * A merchant's risk settings as the API and the back office see them: rules (created in shadow
 * mode, switched on, disabled but never erased), block and allow lists, and the decisions the
 * gate recorded. Every edit tells the gate, which reloads before its next decision.
 */
export class RiskSettings {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly gate: SettingsGate,
  ) {}

  // -------------------------------------------------------------------------------------------
  // Rules

  async createRule(
    tx: Queryable,
    scope: AuthScope,
    input: { name: string; rule: string; mode?: RuleMode },
    nowMs: number,
  ) {
    if (input.name.trim().toLowerCase().startsWith(DEFAULT_NAME_PREFIX))
      throw new ApiError(
        "parameter_invalid",
        "name",
        `Names starting with '${DEFAULT_NAME_PREFIX}' are kept for the default rules.`,
      );
    const compiled = compileOrRefuse(input.rule);
    const { rows } = await tx.query<RuleRow>(
      `insert into risk_rules (id, merchant_id, mode, name, rule, action, status, origin, created, updated)
       values ($1, $2, $3, $4, $5, $6, $7, 'merchant', $8, $8)
       on conflict (merchant_id, mode, name) do nothing returning *`,
      [
        newId("rr", nowMs),
        scope.merchantId,
        scope.mode,
        input.name,
        compiled.source,
        compiled.action,
        input.mode ?? "shadow",
        new Date(nowMs),
      ],
    );
    if (!rows[0])
      throw new ApiError("resource_already_exists", "name", `A rule named '${input.name}' exists.`);
    this.gate.forget(scope);
    return presentRule(rows[0]);
  }

  async updateRule(
    tx: Queryable,
    scope: AuthScope,
    id: string,
    input: { name?: string; rule?: string; mode?: RuleMode | "disabled" },
    nowMs: number,
  ) {
    const current = await this.ruleRow(tx, scope, id, true);
    if (current.origin === "default" && (input.rule !== undefined || input.name !== undefined))
      throw new ApiError(
        "parameter_invalid",
        input.rule !== undefined ? "rule" : "name",
        "A default rule can only change mode; write a rule of your own instead.",
      );
    if (input.name?.trim().toLowerCase().startsWith(DEFAULT_NAME_PREFIX))
      throw new ApiError(
        "parameter_invalid",
        "name",
        `Names starting with '${DEFAULT_NAME_PREFIX}' are kept for the default rules.`,
      );
    const compiled = input.rule === undefined ? undefined : compileOrRefuse(input.rule);
    if (input.name !== undefined && input.name !== current.name) {
      const { rowCount } = await tx.query(
        "select 1 from risk_rules where merchant_id = $1 and mode = $2 and name = $3",
        [scope.merchantId, scope.mode, input.name],
      );
      if (rowCount)
        throw new ApiError("resource_already_exists", "name", `A rule named '${input.name}' exists.`);
    }
    const { rows } = await tx.query<RuleRow>(
      `update risk_rules set name = $2, rule = $3, action = $4, status = $5, updated = $6 where id = $1 returning *`,
      [
        id,
        input.name ?? current.name,
        compiled?.source ?? current.rule,
        compiled?.action ?? current.action,
        input.mode ?? current.status,
        new Date(nowMs),
      ],
    );
    this.gate.forget(scope);
    return presentRule(rows[0]!);
  }

  /** DELETE: a rule is disabled, never erased (its decisions keep naming it; a default is not made again). */
  async disableRule(scope: AuthScope, id: string) {
    const nowMs = this.clock.nowMs();
    return this.db.transaction((tx) => this.updateRule(tx, scope, id, { mode: "disabled" }, nowMs));
  }

  private async ruleRow(q: Queryable, scope: AuthScope, id: string, lock = false): Promise<RuleRow> {
    const { rows } = await q.query<RuleRow>(
      `select * from risk_rules where id = $1 and merchant_id = $2 and mode = $3${lock ? " for update" : ""}`,
      [id, scope.merchantId, scope.mode],
    );
    if (!rows[0]) throw new ApiError("resource_missing", "id", `No such risk rule: '${id}'.`);
    return rows[0];
  }

  async getRule(scope: AuthScope, id: string) {
    await this.gate.ensureLoaded(scope);
    return presentRule(await this.ruleRow(this.db, scope, id));
  }

  async listRules(scope: AuthScope, list: ListParams) {
    // The defaults exist once the merchant's rules were first read.
    await this.gate.ensureLoaded(scope);
    const page = await listPage<RuleRow>(
      this.db,
      "risk_rules",
      ["merchant_id = $1", "mode = $2"],
      [scope.merchantId, scope.mode],
      list,
    );
    return { rows: page.rows.map(presentRule), hasMore: page.hasMore };
  }

  // -------------------------------------------------------------------------------------------
  // Lists

  async addListEntry(
    tx: Queryable,
    scope: AuthScope,
    input: { list_type: ListType; list: ListName; value: string },
    nowMs: number,
  ) {
    const value =
      input.list === "card_fingerprints" ? input.value.trim() : normalizeListValue(input.list, input.value);
    const { rows } = await tx.query<ListEntryRow>(
      `insert into risk_list_entries (id, merchant_id, mode, list_type, list, value, created)
       values ($1, $2, $3, $4, $5, $6, $7)
       on conflict (merchant_id, mode, list_type, list, value) do nothing returning *`,
      [
        newId("rle", nowMs),
        scope.merchantId,
        scope.mode,
        input.list_type,
        input.list,
        value,
        new Date(nowMs),
      ],
    );
    if (!rows[0])
      throw new ApiError("resource_already_exists", "value", "This value is on the list already.");
    this.gate.forget(scope);
    return presentListEntry(rows[0]);
  }

  async listEntries(scope: AuthScope, filters: { list_type?: ListType; list?: ListName }, list: ListParams) {
    const where = ["merchant_id = $1", "mode = $2"];
    const params: unknown[] = [scope.merchantId, scope.mode];
    if (filters.list_type) {
      params.push(filters.list_type);
      where.push(`list_type = $${params.length}`);
    }
    if (filters.list) {
      params.push(filters.list);
      where.push(`list = $${params.length}`);
    }
    const page = await listPage<ListEntryRow>(this.db, "risk_list_entries", where, params, list);
    return { rows: page.rows.map(presentListEntry), hasMore: page.hasMore };
  }

  async removeListEntry(scope: AuthScope, id: string) {
    const { rows } = await this.db.query<ListEntryRow>(
      "delete from risk_list_entries where id = $1 and merchant_id = $2 and mode = $3 returning *",
      [id, scope.merchantId, scope.mode],
    );
    if (!rows[0]) throw new ApiError("resource_missing", "id", `No such list entry: '${id}'.`);
    this.gate.forget(scope);
    return { ...presentListEntry(rows[0]), deleted: true };
  }

  // -------------------------------------------------------------------------------------------
  // Decisions

  async decisions(scope: AuthScope, filters: { payment?: string }, list: ListParams) {
    // What this process decided is readable at once; another process's within a flush period.
    await this.gate.flushDecisions();
    const where = ["merchant_id = $1", "mode = $2"];
    const params: unknown[] = [scope.merchantId, scope.mode];
    if (filters.payment) {
      params.push(filters.payment);
      where.push(`payment_id = $${params.length}`);
    }
    const page = await listPage<DecisionRow>(this.db, "risk_decisions", where, params, list);
    return { rows: page.rows.map(presentDecision), hasMore: page.hasMore };
  }

  /** The `review` decisions that held these payments (the back office's queue shows why). */
  async reviewDecisions(paymentIds: readonly string[]) {
    if (paymentIds.length === 0) return [];
    const { rows } = await this.db.query<DecisionRow>(
      "select * from risk_decisions where payment_id = any($1) and action = 'review' and decided order by id",
      [paymentIds],
    );
    return rows.map(presentDecision);
  }
}
