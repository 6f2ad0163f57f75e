import { createHmac, randomBytes } from "node:crypto";
import type { Db } from "../db/db.ts";
import { rowsToJson } from "../db/rows.ts";
import type { Clock } from "../platform/clock.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope } from "../platform/scope.ts";
import {
  COUNTER_WINDOW_MAX_MS,
  COUNTERS,
  type CounterName,
  type Facts,
  type ListName,
  type ListType,
  type ObservationKind,
} from "./attributes.ts";
import { type CompiledRule, compileRule, type ListLookup } from "./compile.ts";
import { MemoryCounters } from "./counters.ts";
import { DEFAULT_RULES } from "./defaults.ts";
import { type ActiveRule, evaluate, listKey, listProbes } from "./engine.ts";
import { OBSERVATION_FLUSH_MS, type ObservationRow, RowBuffer } from "./observations.ts";
import { ReadBatcher } from "./reads.ts";
import { RiskSettings, type RuleRow } from "./settings.ts";
import { countersFor, type Observation, observationsFor, type Subjects, subjectsOf } from "./velocity.ts";
import {
  factsOf,
  type ObservedFailure,
  type RiskGate,
  type RiskSubject,
  type RiskVerdict,
} from "./verdict.ts";

/** A card number's keyed fingerprint (`fp_…`): the number itself is never kept. */
function fingerprintWith(key: Buffer, cardNumber: string): string {
  const digits = cardNumber.replace(/\D/g, "");
  return `fp_${createHmac("sha256", key).update(digits).digest("base64url").slice(0, 24)}`;
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
  /** The merchant's `risk_settings_versions` row when these were read (0: none yet). */
  version: number;
  scope: AuthScope;
  generation: number;
}

const NOTHING_PENDING: ReadonlySet<string> = new Set();

/** A merchant's list entries are kept in memory up to this many; past it each payment looks its up. */
export const LIST_ENTRIES_IN_MEMORY_MAX = 50_000;
/** Observations a process reads back per merchant when it first sees it (the last day's). */
export const SEED_ROWS_MAX = 200_000;

/**
 * How often a process asks whether the rules it holds changed (other processes' edits): one query
 * for every merchant it holds, then a reload of those whose version moved (migration 0360).
 */
export const RULES_POLL_MS = 1000;
/** A read-back waits this long: other processes' buffered observations are written by then. */
export const SEED_DELAY_MS = 2 * OBSERVATION_FLUSH_MS;

/**
 * The risk engine's gate: it decides an attempt against the merchant's rules and lists (edited
 * through `settings`, settings.ts), writes the decisions and the observations velocity counters
 * count. A merchant's rules and list entries are loaded and compiled when first needed, again at
 * once after an edit in this process, and within a second of another process's edit (one poll of
 * the versions a second); counters are counted in memory (counters.ts), so a warm process decides
 * a payment without a query.
 */
export class Risk implements RiskGate {
  private readonly cache = new Map<string, Loaded>();
  /** Bumped by every edit this process makes: a load begun before it is not kept. */
  private readonly generations = new Map<string, number>();
  private readonly loading = new Map<string, { generation: number; promise: Promise<Loaded> }>();
  private readonly compiledBySource = new Map<string, CompiledRule | null>();
  private polledAtMs: number;
  private polling: Promise<void> | null = null;
  private fingerprintKey: Buffer | undefined;
  private readonly reads: ReadBatcher;
  private readonly memory = new MemoryCounters();
  /** Per merchant and mode: the read-back of earlier observations (started on first sight). */
  private readonly seeds = new Map<string, Promise<void>>();
  /** The observation rows, written off the payments' commits (observations.ts). */
  private readonly observations: RowBuffer<ObservationRow>;
  /** Decisions of rules that decided nothing, written off the flows' commits (docs/risk.md). */
  private readonly decisionLog: RowBuffer<Record<string, unknown>>;

  /** The merchant's rules, lists and decisions, as the API and the back office edit and read them. */
  readonly settings: RiskSettings;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly monotonicMs: () => number = () => performance.now(),
  ) {
    this.polledAtMs = monotonicMs();
    this.settings = new RiskSettings(db, clock, {
      forget: (scope) => this.forget(scope),
      ensureLoaded: (scope) => this.rulesOf(scope),
      flushDecisions: () => this.decisionLog.flush(),
    });
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
   * The rules in memory, if any. Once a second a payment starts the poll of their versions in the
   * background; rules another process changed are served until their reload is done, so a busy
   * merchant's payments never all wait for (or all start) the same reload.
   */
  private cachedRules(scope: AuthScope): Loaded | null {
    const key = this.key(scope);
    const cached = this.cache.get(key);
    if (!cached || cached.generation !== (this.generations.get(key) ?? 0)) return null;
    if (this.polling === null && this.monotonicMs() - this.polledAtMs >= RULES_POLL_MS) {
      this.polling = this.pollVersions().finally(() => {
        this.polling = null;
      });
    }
    return cached;
  }

  /**
   * Reloads, in the background, the rules whose version moved since they were read: one query for
   * every merchant held. A failed poll (the database away) is tried again a second later.
   */
  private async pollVersions(): Promise<void> {
    this.polledAtMs = this.monotonicMs();
    const held = [...this.cache.values()];
    if (held.length === 0) return;
    try {
      const { rows } = await this.db.query<{ merchant_id: string; mode: string; version: string }>(
        "select merchant_id, mode, version from risk_settings_versions where merchant_id = any($1)",
        [[...new Set(held.map((l) => l.scope.merchantId))]],
      );
      const versions = new Map(rows.map((r) => [`${r.merchant_id}\u0000${r.mode}`, Number(r.version)]));
      for (const loaded of held) {
        const key = this.key(loaded.scope);
        if ((versions.get(key) ?? 0) !== loaded.version && this.cache.get(key) === loaded)
          this.reload(key, loaded.scope, loaded.generation).catch(() => undefined);
      }
    } catch {
      // Served from memory meanwhile; the next poll tries again.
    }
  }

  /** Tests: waits for a poll of the versions begun by a payment, and the reloads it started. */
  async settled(): Promise<void> {
    await this.polling;
    await Promise.all([...this.loading.values()].map((l) => l.promise.catch(() => undefined)));
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
    // The version is read in the rules' statement, so with their snapshot: an edit committed after
    // it moves the version past the one kept, and the next poll reloads.
    const select = () =>
      this.db.query<RuleRow & { settings_version: string | null }>(
        `select r.*, (select version from risk_settings_versions v where v.merchant_id = $1 and v.mode = $2)
                  as settings_version
           from risk_rules r where r.merchant_id = $1 and r.mode = $2 order by r.id`,
        [scope.merchantId, scope.mode],
      );
    let { rows } = await select();
    if (!rows.some((r) => r.origin === "default")) {
      await this.makeDefaults(scope);
      rows = (await select()).rows;
    }
    const version = Number(rows[0]?.settings_version ?? 0);
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
    const loaded: Loaded = {
      rules,
      kinds,
      counters,
      lists,
      readsLists,
      version,
      scope: { merchantId: scope.merchantId, mode: scope.mode },
      generation,
    };
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
