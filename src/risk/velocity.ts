import {
  COUNTER_SATURATION,
  COUNTERS,
  type CounterName,
  type CounterSpec,
  type ObservationKind,
} from "./attributes.ts";

/**
 * Velocity counters from observations: every attempt yields one observation per (kind, subject)
 * that an active rule counts; it is counted in memory (counters.ts) and appended to
 * `risk_observations` within 100 ms (observations.ts; read back by a process that starts; rows leave with their day's
 * partition). Pure: which observations an attempt makes and which counts to ask for.
 */

/** Who an attempt is about, as counted: an address, a number, its block of numbers, a card. */
export interface Subjects {
  ip?: string;
  msisdn?: string;
  msisdnRange?: string;
  cardFingerprint?: string;
}

type SubjectType = CounterSpec["subject"];

export function subjectsOf(about: { ip?: string; msisdn?: string; cardFingerprint?: string }): Subjects {
  const subjects: Subjects = {};
  if (about.ip) subjects.ip = about.ip;
  if (about.msisdn) {
    subjects.msisdn = about.msisdn;
    // A block of 1,000 numbers: bots walk number ranges.
    if (about.msisdn.length > 6) subjects.msisdnRange = `${about.msisdn.slice(0, -3)}xxx`;
  }
  if (about.cardFingerprint) subjects.cardFingerprint = about.cardFingerprint;
  return subjects;
}

function subjectValue(subjects: Subjects, type: SubjectType): string | undefined {
  switch (type) {
    case "ip":
      return subjects.ip;
    case "msisdn":
      return subjects.msisdn;
    case "msisdn_range":
      return subjects.msisdnRange;
    case "card_fingerprint":
      return subjects.cardFingerprint;
  }
}

/** Which subject types each kind is counted by (the catalogue decides). */
const SUBJECTS_BY_KIND = new Map<ObservationKind, Set<SubjectType>>();
for (const spec of Object.values(COUNTERS) as CounterSpec[]) {
  const set = SUBJECTS_BY_KIND.get(spec.kind) ?? new Set<SubjectType>();
  set.add(spec.subject);
  SUBJECTS_BY_KIND.set(spec.kind, set);
}

export interface Observation {
  kind: ObservationKind;
  subject: string;
  /** What a distinct counter counts (the card, for cards per address). */
  value?: string;
}

/** What an attempt is an observation of, before its outcome. */
function attemptKinds(flow: string, method: string | undefined): ObservationKind[] {
  if (flow === "subscription") return ["subscription"];
  if (flow === "payment" || flow === "checkout")
    return method === "card" ? ["payment", "card_payment"] : ["payment"];
  return [];
}

/**
 * The rows to append for one attempt (or one failure, `failure` set), limited to the kinds that
 * the merchant's active rules count.
 */
export function observationsFor(
  flow: string,
  method: string | undefined,
  subjects: Subjects,
  activeKinds: ReadonlySet<ObservationKind>,
  failure?: ObservationKind,
): Observation[] {
  const out: Observation[] = [];
  for (const kind of failure ? [failure] : attemptKinds(flow, method)) {
    if (!activeKinds.has(kind)) continue;
    for (const type of SUBJECTS_BY_KIND.get(kind) ?? []) {
      const value = subjectValue(subjects, type);
      if (value === undefined) continue;
      const observation: Observation = { kind, subject: `${type}:${value}` };
      if (kind === "card_payment" && subjects.cardFingerprint) observation.value = subjects.cardFingerprint;
      out.push(observation);
    }
  }
  return out;
}

export interface CounterQuery {
  name: CounterName;
  kind: ObservationKind;
  subject: string | undefined;
  sinceMs: number;
  distinct: boolean;
  /** A distinct count leaves out the current value (added once by `plus`). */
  exclude?: string;
  /** The current attempt, not yet written, counts too. */
  plus: number;
  limit: number;
}

/** The counts to ask for: one per counter an active rule reads whose subject is known. */
export function countersFor(
  wanted: Iterable<CounterName>,
  subjects: Subjects,
  current: readonly Observation[],
  nowMs: number,
): CounterQuery[] {
  const out: CounterQuery[] = [];
  for (const name of wanted) {
    const spec: CounterSpec = COUNTERS[name];
    const value = subjectValue(subjects, spec.subject);
    if (value === undefined) continue;
    const subject = `${spec.subject}:${value}`;
    const mine = current.find((o) => o.kind === spec.kind && o.subject === subject);
    const query: CounterQuery = {
      name,
      kind: spec.kind,
      subject,
      sinceMs: nowMs - spec.windowMs,
      distinct: spec.distinct === true,
      plus: mine && (!spec.distinct || mine.value !== undefined) ? 1 : 0,
      limit: COUNTER_SATURATION,
    };
    if (spec.distinct && mine?.value !== undefined) query.exclude = mine.value;
    out.push(query);
  }
  return out;
}
