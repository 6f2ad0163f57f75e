import { createHmac, randomBytes } from "node:crypto";
import { getOperator } from "../connectors/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import { rowsToJson } from "../db/rows.ts";
import { type Clock, iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope, Mode } from "../platform/scope.ts";
import {
  COUNTER_WINDOW_MAX_MS,
  COUNTERS,
  type CounterName,
  type Facts,
  type ListName,
  type ListType,
  type ObservationKind,
} from "./attributes.ts";
import { MemoryCounters } from "./counters.ts";
import { DEFAULT_NAME_PREFIX, DEFAULT_RULES } from "./defaults.ts";
import { type ActiveRule, evaluate, listKey, listProbes, type RuleMode } from "./engine.ts";
import { type Action, type CompiledRule, compileRule, type ListLookup } from "./language.ts";
import { OBSERVATION_FLUSH_MS, type ObservationRow, RowBuffer } from "./observations.ts";
import { ReadBatcher } from "./reads.ts";
import { countersFor, type Observation, observationsFor, type Subjects, subjectsOf } from "./velocity.ts";

/**
 * What the rules read of an attempt, assigned one by one (this runs for every payment). `country`:
 * what the flow says, else the carrier operator's (MCC+MNC → the registry's country), so that
 * `ip_country != country` works for carrier payments from the API and checkout alike.
 */
function fingerprintWith(key: Buffer, cardNumber: string): string {
  const digits = cardNumber.replace(/\D/g, "");
  return `fp_${createHmac("sha256", key).update(digits).digest("base64url").slice(0, 24)}`;
}

function factsOf(subject: RiskSubject, subjects: Subjects): Facts {
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

interface RuleRow {
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

export function presentRule(r: RuleRow) {
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

export function presentListEntry(r: ListEntryRow) {
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

export function presentDecision(r: DecisionRow) {
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

interface Loaded {
  rules: ActiveRule[];
  /** What observations the active rules count: nothing else is written. */
  kinds: Set<ObservationKind>;
  /** The counters the active rules read. */
  counters: Set<CounterName>;
  /**
   * The merchant's list entries (`listKey`s) when a rule reads a list and they fit in memory;
   * null when none is read or there are more than LIST_ENTRIES_IN_MEMORY_MAX (looked up then).
   */
  lists: Set<string> | null;
  /** Whether any active rule reads a list. */
  readsLists: boolean;
  loadedAtMs: number;
  generation: number;
}

const NOTHING_PENDING: ReadonlySet<string> = new Set();

/** A merchant's list entries are kept in memory up to this many; past it each payment looks its up. */
export const LIST_ENTRIES_IN_MEMORY_MAX = 50_000;
/** Observations a process reads back per merchant when it first sees it (the last day's). */
export const SEED_ROWS_MAX = 200_000;

/** How long a process uses the rules it loaded before reading them again (other processes' edits). */
export const RULES_CACHE_MS = 1000;
/** A read-back waits this long: other processes' buffered observations are written by then. */
export const SEED_DELAY_MS = 2 * OBSERVATION_FLUSH_MS;

/**
 * The risk engine's storage and its gate: rules and lists per merchant and mode, decisions, and
 * the observations velocity counters count. Rules and list entries are loaded and compiled once
 * per second per merchant (and at once after an edit in this process); counters are counted in
 * memory (counters.ts), so a warm process decides a payment without a query.
 */
export class Risk implements RiskGate {
  private readonly cache = new Map<string, Loaded>();
  /** Bumped by every edit this process makes: a load begun before it is not kept. */
  private readonly generations = new Map<string, number>();
  private readonly loading = new Map<string, { generation: number; promise: Promise<Loaded> }>();
  private readonly compiledBySource = new Map<string, CompiledRule | null>();
  private fingerprintKey: Buffer | undefined;
  private readonly reads: ReadBatcher;
  private readonly memory = new MemoryCounters();
  /** Per merchant and mode: the read-back of earlier observations (started on first sight). */
  private readonly seeds = new Map<string, Promise<void>>();
  /** The observation rows, written off the payments' commits (observations.ts). */
  private readonly observations: RowBuffer<ObservationRow>;
  /** Decisions of rules that decided nothing, written off the flows' commits (docs/risk.md). */
  private readonly decisionLog: RowBuffer<Record<string, unknown>>;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly monotonicMs: () => number = () => performance.now(),
  ) {
    this.reads = new ReadBatcher(db);
    this.observations = new RowBuffer<ObservationRow>(db, "risk_observations");
    this.decisionLog = new RowBuffer<Record<string, unknown>>(db, "risk_decisions");
  }

  /** Writes the observations buffered so far (false: the database refused; they are kept). */
  flushObservations(): Promise<boolean> {
    return this.observations.flush();
  }

  /** Writes what is buffered: call before the database closes. */
  async close(): Promise<void> {
    await Promise.all([this.observations.close(), this.decisionLog.close()]);
  }

  private buffer(scope: AuthScope, observed: readonly Observation[], nowMs: number): void {
    const created = new Date(nowMs);
    this.observations.add(
      observed.map(
        (o): ObservationRow => ({
          created,
          merchant_id: scope.merchantId,
          mode: scope.mode,
          kind: o.kind,
          subject: o.subject,
          value: o.value ?? null,
        }),
      ),
    );
  }

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
    this.forget(scope);
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
    this.forget(scope);
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
    await this.rulesOf(scope);
    return presentRule(await this.ruleRow(this.db, scope, id));
  }

  async listRules(scope: AuthScope, list: ListParams) {
    // The defaults exist once the merchant's rules were first read.
    await this.rulesOf(scope);
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
    this.forget(scope);
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
    this.forget(scope);
    return { ...presentListEntry(rows[0]), deleted: true };
  }

  // -------------------------------------------------------------------------------------------
  // Decisions

  async decisions(scope: AuthScope, filters: { payment?: string }, list: ListParams) {
    // What this process decided is readable at once; another process's within a flush period.
    await this.decisionLog.flush();
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

  // -------------------------------------------------------------------------------------------
  // The gate

  private key(scope: AuthScope): string {
    return `${scope.merchantId}\u0000${scope.mode}`;
  }

  private forget(scope: AuthScope): void {
    const key = this.key(scope);
    this.generations.set(key, (this.generations.get(key) ?? 0) + 1);
    this.cache.delete(key);
  }

  /** The merchant's active rules, compiled; the defaults are made the first time. */
  private async rulesOf(scope: AuthScope): Promise<Loaded> {
    return (
      this.cachedRules(scope) ??
      this.reload(this.key(scope), scope, this.generations.get(this.key(scope)) ?? 0)
    );
  }

  /**
   * The rules in memory, if any. Stale rules are served while one reload runs in the background:
   * a busy merchant's payments never all wait for (or all start) the same reload.
   */
  private cachedRules(scope: AuthScope): Loaded | null {
    const key = this.key(scope);
    const generation = this.generations.get(key) ?? 0;
    const cached = this.cache.get(key);
    if (!cached || cached.generation !== generation) return null;
    if (this.monotonicMs() - cached.loadedAtMs >= RULES_CACHE_MS)
      this.reload(key, scope, generation).catch(() => undefined);
    return cached;
  }

  /** One load per merchant at a time; an edit in this process (a new generation) starts its own. */
  private reload(key: string, scope: AuthScope, generation: number): Promise<Loaded> {
    const running = this.loading.get(key);
    if (running && running.generation === generation) return running.promise;
    const promise = this.load(key, scope, generation).finally(() => {
      if (this.loading.get(key)?.promise === promise) this.loading.delete(key);
    });
    this.loading.set(key, { generation, promise });
    return promise;
  }

  private async load(key: string, scope: AuthScope, generation: number): Promise<Loaded> {
    const select = () =>
      this.db.query<RuleRow>("select * from risk_rules where merchant_id = $1 and mode = $2 order by id", [
        scope.merchantId,
        scope.mode,
      ]);
    let { rows } = await select();
    if (!rows.some((r) => r.origin === "default")) {
      await this.makeDefaults(scope);
      rows = (await select()).rows;
    }
    const rules: ActiveRule[] = [];
    const kinds = new Set<ObservationKind>();
    const counters = new Set<CounterName>();
    for (const row of rows) {
      if (row.status === "disabled") continue;
      const compiled = this.compiled(row.rule);
      // Stored rules were checked when saved; a rule a newer grammar refuses is skipped, not fatal.
      if (!compiled) continue;
      rules.push({ id: row.id, name: row.name, mode: row.status, compiled });
      for (const counter of compiled.counters) {
        kinds.add(COUNTERS[counter as CounterName].kind);
        counters.add(counter as CounterName);
      }
    }
    let lists: Set<string> | null = null;
    const readsLists = rules.some((r) => r.compiled.lists.length > 0);
    if (readsLists) {
      const entries = await this.db.query<{ list_type: ListType; list: ListName; value: string }>(
        "select list_type, list, value from risk_list_entries where merchant_id = $1 and mode = $2 limit $3",
        [scope.merchantId, scope.mode, LIST_ENTRIES_IN_MEMORY_MAX + 1],
      );
      if (entries.rows.length <= LIST_ENTRIES_IN_MEMORY_MAX)
        lists = new Set(entries.rows.map((e) => listKey(e.list_type, e.list, e.value)));
    }
    if (!this.seeds.has(key)) this.seeds.set(key, this.seed(key, scope, this.clock.nowMs()));
    const loaded = { rules, kinds, counters, lists, readsLists, loadedAtMs: this.monotonicMs(), generation };
    if ((this.generations.get(key) ?? 0) === generation) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, loaded);
    }
    return loaded;
  }

  /** Rules are compiled once per text per process (reloads find them compiled). */
  private compiled(source: string): CompiledRule | null {
    let compiled = this.compiledBySource.get(source);
    if (compiled === undefined) {
      const result = compileRule(source);
      compiled = result.ok ? result.rule : null;
      if (this.compiledBySource.size > 50_000) this.compiledBySource.clear();
      this.compiledBySource.set(source, compiled);
    }
    return compiled;
  }

  private async makeDefaults(scope: AuthScope): Promise<void> {
    const nowMs = this.clock.nowMs();
    for (const [i, def] of DEFAULT_RULES.entries()) {
      const compiled = compileRule(def.rule);
      if (!compiled.ok)
        throw new Error(`default rule '${def.name}' does not compile: ${compiled.error.message}`);
      await this.db.query(
        `insert into risk_rules (id, merchant_id, mode, name, rule, action, status, origin, created, updated)
         values ($1, $2, $3, $4, $5, $6, 'enforce', 'default', $7, $7) on conflict (merchant_id, mode, name) do nothing`,
        [
          newId("rr", nowMs + i),
          scope.merchantId,
          scope.mode,
          def.name,
          compiled.rule.source,
          compiled.rule.action,
          new Date(nowMs),
        ],
      );
    }
  }

  private async cardKey(): Promise<Buffer> {
    if (this.fingerprintKey) return this.fingerprintKey;
    await this.db.query(
      "insert into settings (name, value) values ('risk_fingerprint_key', $1) on conflict do nothing",
      [randomBytes(32).toString("base64")],
    );
    const { rows } = await this.db.query<{ value: string }>(
      "select value from settings where name = 'risk_fingerprint_key'",
    );
    this.fingerprintKey = Buffer.from(rows[0]!.value, "base64");
    return this.fingerprintKey;
  }

  /** A card's fingerprint: keyed, so a fingerprint cannot be turned back into a number by trying them all. */
  async fingerprint(cardNumber: string): Promise<string> {
    return fingerprintWith(await this.cardKey(), cardNumber);
  }

  async subjectsOf(
    _scope: AuthScope,
    about: { ip?: string; msisdn?: string; cardNumber?: string; cardFingerprint?: string },
  ): Promise<Subjects> {
    return this.subjectsNow(
      about,
      about.cardNumber && !about.cardFingerprint ? await this.cardKey() : undefined,
    );
  }

  /** `subjectsOf` once the card key is known (or no card number is given). */
  private subjectsNow(
    about: { ip?: string; msisdn?: string; cardNumber?: string; cardFingerprint?: string },
    cardKey: Buffer | undefined,
  ): Subjects {
    const fingerprint =
      about.cardFingerprint ??
      (about.cardNumber && cardKey ? fingerprintWith(cardKey, about.cardNumber) : undefined);
    return subjectsOf({
      ...(about.ip ? { ip: about.ip } : {}),
      ...(about.msisdn ? { msisdn: about.msisdn } : {}),
      ...(fingerprint ? { cardFingerprint: fingerprint } : {}),
    });
  }

  async assess(scope: AuthScope, subject: RiskSubject, nowMs: number): Promise<RiskVerdict> {
    const loaded = await this.rulesOf(scope);
    const subjects = await this.subjectsOf(scope, subject);
    if (loaded.rules.length === 0) return { action: "allow", rule: null, rows: [], logged: [], subjects };
    const { facts, probes } = this.count(scope, subject, loaded, subjects, nowMs);
    return this.conclude(
      scope,
      subject,
      loaded,
      subjects,
      facts,
      await this.listLookup(scope, loaded, facts, probes),
      nowMs,
    );
  }

  /**
   * The verdict at once, in the common case: the merchant's rules are in memory, and no card key
   * and no list must be read from the database. Then no promise is made on the payment's path
   * (each costs an allocation and, with the audit's async context on, a hook). null: nothing was
   * counted or done; call `assess`.
   */
  assessNow(scope: AuthScope, subject: RiskSubject, nowMs: number): RiskVerdict | null {
    const loaded = this.cachedRules(scope);
    if (!loaded || (loaded.lists === null && loaded.readsLists)) return null;
    if (subject.cardNumber !== undefined && !this.fingerprintKey) return null;
    const subjects = this.subjectsNow(subject, this.fingerprintKey);
    if (loaded.rules.length === 0) return { action: "allow", rule: null, rows: [], logged: [], subjects };
    const { facts } = this.count(scope, subject, loaded, subjects, nowMs);
    const lists = loaded.lists;
    return this.conclude(
      scope,
      subject,
      loaded,
      subjects,
      facts,
      (type, name, value) => lists?.has(listKey(type, name, value)) === true,
      nowMs,
    );
  }

  /**
   * Counts the attempt and fills the facts the rules read. The attempt is counted before anything
   * is read: two attempts at once each see the other. Counts come from memory (counters.ts): no
   * query, no lock, so every planned one is filled.
   */
  private count(scope: AuthScope, subject: RiskSubject, loaded: Loaded, subjects: Subjects, nowMs: number) {
    const facts = factsOf(subject, subjects);
    const current = observationsFor(subject.flow, subject.method, subjects, loaded.kinds);
    const plan = countersFor(loaded.counters, subjects, current, nowMs);
    const probes = listProbes(loaded.rules, facts);
    const key = this.key(scope);
    this.memory.add(key, current, nowMs);
    // Written within OBSERVATION_FLUSH_MS, off the payment's commit: an attempt is counted (in
    // memory, and in what a process that starts reads back) whether or not its payment commits.
    this.buffer(scope, current, nowMs);
    // The memory holds the current attempt already; a distinct count leaves its value out.
    for (const c of plan) facts[c.name] = this.memory.count(key, c) + (c.distinct ? c.plus : 0);
    return { facts, probes };
  }

  /** Lists too long to keep in memory are looked up, only when a rule still depends on one. */
  private async listLookup(
    scope: AuthScope,
    loaded: Loaded,
    facts: Facts,
    probes: ReturnType<typeof listProbes>,
  ): Promise<ListLookup> {
    const lookups =
      loaded.lists === null && probes.length > 0
        ? probes.filter((probe) =>
            loaded.rules.some(
              (rule) =>
                rule.compiled.lists.some((l) => l.type === probe.type && l.name === probe.name) &&
                rule.compiled.partial(facts, NOTHING_PENDING) === undefined,
            ),
          )
        : [];
    if (lookups.length === 0)
      return (type, name, value) => loaded.lists?.has(listKey(type, name, value)) === true;
    const answers = await this.reads.read(
      scope,
      lookups.map((l) => ({ list: l })),
    );
    const hits = new Set<string>();
    lookups.forEach((l, i) => {
      if (answers[i]! > 0) hits.add(listKey(l.type, l.name, l.value));
    });
    return (type, name, value) => hits.has(listKey(type, name, value));
  }

  private conclude(
    scope: AuthScope,
    subject: RiskSubject,
    loaded: Loaded,
    subjects: Subjects,
    facts: Facts,
    listed: ListLookup,
    nowMs: number,
  ): RiskVerdict {
    const verdict = evaluate(loaded.rules, facts, listed);
    const created = new Date(nowMs);
    const decisions = verdict.matches.map((match) => ({
      id: newId("rd", nowMs),
      created,
      merchant_id: scope.merchantId,
      mode: scope.mode,
      payment_id: subject.paymentId ?? null,
      flow: subject.flow,
      rule_id: match.rule.id,
      rule_name: match.rule.name,
      rule: match.rule.compiled.source,
      action: match.rule.compiled.action,
      rule_mode: match.rule.mode,
      decided: match === verdict.decidedBy,
      attribute_values: match.values,
    }));
    const decided = verdict.decidedBy?.rule;
    return {
      action: verdict.action,
      rule: decided ? { id: decided.id, name: decided.name } : null,
      rows: decisions.filter((d) => d.decided).map((row) => ({ table: "risk_decisions" as const, row })),
      logged: decisions.filter((d) => !d.decided),
      subjects,
    };
  }

  /**
   * Reads back what was observed of a merchant before this process counted it (the last day, at
   * most SEED_ROWS_MAX rows): a restart does not reset a card tester's counts. In the background,
   * never on a payment's path; what this process counts itself starts at `cutoffMs`. It waits two
   * flush periods first: what other processes observed before the cutoff is written by then.
   */
  private async seed(key: string, scope: AuthScope, cutoffMs: number): Promise<void> {
    try {
      await new Promise((resolve) => setTimeout(resolve, SEED_DELAY_MS));
      const { rows } = await this.db.query<{
        kind: ObservationKind;
        subject: string;
        value: string | null;
        created: Date;
      }>(
        `select kind, subject, value, created from risk_observations
          where merchant_id = $1 and mode = $2 and created > $3 and created < $4 limit $5`,
        [
          scope.merchantId,
          scope.mode,
          new Date(cutoffMs - COUNTER_WINDOW_MAX_MS),
          new Date(cutoffMs),
          SEED_ROWS_MAX,
        ],
      );
      for (const row of rows)
        this.memory.addOne(
          key,
          row.kind,
          row.subject,
          row.value ?? undefined,
          new Date(row.created).getTime(),
        );
    } catch {
      // A failed read-back leaves counts of what this process sees; it is tried again next load.
      this.seeds.delete(key);
    }
  }

  /** Resolves once the read-back of a merchant's earlier observations is done (tests, benchmarks). */
  async seeded(scope: AuthScope): Promise<void> {
    await this.rulesOf(scope);
    await this.seeds.get(this.key(scope));
  }

  async record(verdict: Pick<RiskVerdict, "rows" | "logged">): Promise<void> {
    if (verdict.rows.length > 0)
      await this.db.query(
        "insert into risk_decisions select * from json_populate_recordset(null::risk_decisions, $1::json)",
        [rowsToJson(verdict.rows.map((r) => r.row))],
      );
    this.log(verdict.logged);
  }

  log(decisions: RiskVerdict["logged"]): void {
    this.decisionLog.add(decisions);
  }

  /** Counts a failure (a decline, a wrong PIN, a wrong voucher code) when an active rule reads it. */
  async observe(scope: AuthScope, kind: ObservedFailure, subjects: Subjects, nowMs: number): Promise<void> {
    const loaded = await this.rulesOf(scope);
    if (!loaded.kinds.has(kind)) return;
    const observed = observationsFor(kind, undefined, subjects, loaded.kinds, kind);
    if (observed.length === 0) return;
    this.memory.add(this.key(scope), observed, nowMs);
    this.buffer(scope, observed, nowMs);
  }
}
