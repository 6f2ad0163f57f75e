import { COUNTER_SATURATION, COUNTER_WINDOW_MAX_MS, type ObservationKind } from "./attributes.ts";
import type { CounterQuery, Observation } from "./velocity.ts";

/**
 * Velocity counters in this process's memory: what a payment's rules read costs no query and
 * takes no lock. Per (merchant, mode, kind, subject) the times of the most recent observations
 * are kept (at most COUNTER_SATURATION: a counter never reads past it, so the newest ones answer
 * every window exactly), and for distinct counters the last time each value was seen. Nothing is
 * shared between keys, so a burst on one number touches one small array and queues on nothing.
 * Entries older than the longest window are dropped as they are met and by a sweep, so counters
 * expire by themselves. The observations are also appended to `risk_observations` (buffered,
 * within 100 ms: observations.ts): a process that starts reads the last day of them once per
 * merchant (`seed`), so a restart forgets at most the last 100 ms; what other processes count
 * after that is theirs
 * (docs/risk.md, "Several processes").
 */

interface Entry {
  /** Observation times, oldest first, at most COUNTER_SATURATION. */
  times: number[];
  /** For distinct counters: value → last time seen, least recently seen first. */
  values?: Map<string, number>;
  newestMs: number;
}

/** Keys kept at most (a flood of one-off addresses drops the least recently used first). */
export const MEMORY_KEYS_MAX = 500_000;
/** How often, by the clock the observations carry, the whole map is swept of expired keys. */
const SWEEP_EVERY_MS = 60_000;

export class MemoryCounters {
  private readonly entries = new Map<string, Entry>();
  private lastSweepMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly keysMax = MEMORY_KEYS_MAX) {}

  private static key(scope: string, kind: ObservationKind, subject: string): string {
    return `${scope}\u0000${kind}\u0000${subject}`;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Counts observations made at `atMs` (the current attempt's, a failure's, or seeded ones). */
  add(scope: string, observations: readonly Observation[], atMs: number): void {
    for (const o of observations) this.addOne(scope, o.kind, o.subject, o.value, atMs);
    if (atMs - this.lastSweepMs >= SWEEP_EVERY_MS) this.sweep(atMs);
  }

  addOne(scope: string, kind: ObservationKind, subject: string, value: string | undefined, atMs: number) {
    const key = MemoryCounters.key(scope, kind, subject);
    let entry = this.entries.get(key);
    if (entry) {
      // Re-inserted: the map's order is least recently touched first (what a full map drops).
      this.entries.delete(key);
    } else {
      if (this.entries.size >= this.keysMax) this.evict();
      entry = { times: [], newestMs: atMs };
    }
    this.entries.set(key, entry);
    insertSorted(entry.times, atMs);
    if (entry.times.length > COUNTER_SATURATION)
      entry.times.splice(0, entry.times.length - COUNTER_SATURATION);
    if (atMs > entry.newestMs) entry.newestMs = atMs;
    if (value !== undefined) {
      entry.values ??= new Map();
      const seen = entry.values.get(value);
      if (seen === undefined || seen <= atMs) {
        entry.values.delete(value);
        entry.values.set(value, atMs);
      }
      if (entry.values.size > COUNTER_SATURATION) {
        const oldest = entry.values.keys().next().value;
        if (oldest !== undefined) entry.values.delete(oldest);
      }
    }
  }

  /** A counter's value before the current attempt (the caller adds it), like the database count. */
  count(scope: string, c: CounterQuery): number {
    if (c.subject === undefined) return 0;
    const entry = this.entries.get(MemoryCounters.key(scope, c.kind, c.subject));
    if (!entry) return 0;
    if (c.distinct) {
      let n = 0;
      for (const [value, seenMs] of entry.values ?? [])
        if (seenMs > c.sinceMs && value !== c.exclude && ++n >= c.limit) break;
      return n;
    }
    // Times are sorted: count those after the window's start from the newest end.
    const times = entry.times;
    let i = times.length;
    while (i > 0 && times[i - 1]! > c.sinceMs && times.length - i < c.limit) i--;
    return times.length - i;
  }

  /** Drops keys nothing in the longest window remembers; prunes old times of the rest. */
  sweep(nowMs: number): void {
    this.lastSweepMs = nowMs;
    const horizon = nowMs - COUNTER_WINDOW_MAX_MS;
    for (const [key, entry] of this.entries) {
      if (entry.newestMs <= horizon) {
        this.entries.delete(key);
        continue;
      }
      let drop = 0;
      while (drop < entry.times.length && entry.times[drop]! <= horizon) drop++;
      if (drop > 0) entry.times.splice(0, drop);
      if (entry.values)
        for (const [value, seenMs] of entry.values) if (seenMs <= horizon) entry.values.delete(value);
    }
  }

  /** Forgets a merchant's counts (its rules stopped reading them, or a test wants a clean slate). */
  clear(): void {
    this.entries.clear();
  }

  private evict(): void {
    // The least recently touched tenth goes at once: eviction stays rare under a flood.
    let n = Math.max(1, Math.floor(this.keysMax / 10));
    for (const key of this.entries.keys()) {
      this.entries.delete(key);
      if (--n === 0) break;
    }
  }
}

/** Appends keeping the order; observations nearly always arrive in time order (O(1) then). */
function insertSorted(times: number[], t: number): void {
  let i = times.length;
  while (i > 0 && times[i - 1]! > t) i--;
  times.splice(i, 0, t);
}
