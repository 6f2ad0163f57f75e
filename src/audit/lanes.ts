import { randomInt } from "node:crypto";
import {
  AUDIT_LANES,
  type AuditDraft,
  auditLogOff,
  chainDrafts,
  type LaneHead,
  readLaneHead,
} from "./chain.ts";

/**
 * The group commit's audit lanes, so a batch's records cost no round trip of their own.
 *
 * The committer remembers the head of each lane it wrote last (in this process) and appends after
 * it without reading it: the head's update in the batch's one statement (`auditChainSql`) only
 * matches when the head is still the one remembered (`where seq = … and hash = …`). Another
 * writer that moved the lane meanwhile (another process, a job, a refusal recorded on its own)
 * makes it match nothing, under the row lock PostgreSQL takes for the update: the batch rolls back
 * (`AuditHeadMoved`) and runs again with the head read under `for update`, the locking path every
 * other writer uses. The chain stays one line per lane in commit order either way.
 *
 * Within a process no two batches in flight write the same lane. Each process prefers the lanes
 * from a random offset on, so processes mostly write different lanes; a lane that moved under a
 * process goes to the end of its preference.
 */
export class AuditLanes {
  private readonly heads = new Map<number, LaneHead>();
  private readonly busy = new Set<number>();
  private readonly order: number[];

  constructor(offset = randomInt(AUDIT_LANES)) {
    this.order = Array.from({ length: AUDIT_LANES }, (_, i) => (offset + i) % AUDIT_LANES);
  }

  /** A lane no batch of this process is writing (or, if all are, any: its head is then locked). */
  claim(): LaneClaim {
    const lane = this.order.find((l) => !this.busy.has(l));
    if (lane === undefined)
      return { lane: this.order[randomInt(AUDIT_LANES)]!, head: undefined, exclusive: false };
    this.busy.add(lane);
    return { lane, head: this.heads.get(lane), exclusive: true };
  }

  /**
   * After the batch's transaction: its committed head, or undefined when it rolled back or its
   * outcome is unknown (the next batch on the lane reads the head under lock). `moved`: another
   * writer moved the lane.
   */
  release(claim: LaneClaim, head: LaneHead | undefined, moved = false): void {
    const lane = claim.lane;
    if (claim.exclusive) this.busy.delete(lane);
    if (head) this.heads.set(lane, head);
    else this.heads.delete(lane);
    if (moved) {
      this.order.splice(this.order.indexOf(lane), 1);
      this.order.push(lane);
    }
  }
}

export interface LaneClaim {
  lane: number;
  /** The head this process left, if it knows it. */
  head: LaneHead | undefined;
  /** No other batch of this process writes the lane meanwhile. */
  exclusive: boolean;
}

/** The lane's head moved under a batch that appended after the remembered one: run it again. */
export class AuditHeadMoved extends Error {
  constructor(readonly lane: number) {
    super(`audit lane ${lane} moved under the batch`);
  }
}

/** What a batch's statement needs to append its records: see `auditChainSql`. */
export interface ChainedAudit {
  lane: number;
  /** The head appended after (matched by the statement), and the head after the batch. */
  from: LaneHead;
  to: LaneHead;
  params: [string, number, string, string, string, string];
  /** Whether the statement must update the head (false: nothing to record). */
  expected: boolean;
}

const NOTHING: ChainedAudit["params"] = ["[]", -1, "0", "", "0", ""];

/**
 * Chains a batch's drafts in a claimed lane. A lane whose head this process does not know is read
 * under lock first (one round trip, then the head's update cannot miss).
 */
export async function chainBatch(
  tx: Parameters<typeof readLaneHead>[0],
  claimed: LaneClaim,
  drafts: readonly AuditDraft[],
): Promise<ChainedAudit | null> {
  if (drafts.length === 0 || auditLogOff()) return null;
  return chainAfter(claimed.lane, claimed.head ?? (await readLaneHead(tx, claimed.lane, true)), drafts);
}

/**
 * The same without a read: "unknown" when the lane's head must be read under lock first (which
 * only a transaction can do).
 */
export function chainKnown(
  claimed: LaneClaim,
  drafts: readonly AuditDraft[],
): ChainedAudit | null | "unknown" {
  if (drafts.length === 0 || auditLogOff()) return null;
  return claimed.head ? chainAfter(claimed.lane, claimed.head, drafts) : "unknown";
}

function chainAfter(lane: number, from: LaneHead, drafts: readonly AuditDraft[]): ChainedAudit {
  const chained = chainDrafts(lane, from, drafts);
  return {
    lane,
    from,
    to: chained.head,
    expected: true,
    params: [
      chained.rowsJson,
      lane,
      from.seq.toString(),
      from.hash,
      chained.head.seq.toString(),
      chained.head.hash,
    ],
  };
}

export function noAuditParams(): ChainedAudit["params"] {
  return NOTHING;
}

/**
 * CTEs appending a batch's records and moving its lane's head, from parameter `first` on (rows,
 * lane, old seq, old hash, new seq, new hash). `audit_head` returns the lane when the head was the
 * remembered one.
 */
export function auditChainSql(first: number): string {
  const p = (n: number) => `$${first + n}`;
  return `audit_rows as (
    insert into audit_events select * from json_populate_recordset(null::audit_events, ${p(0)}::json)),
  audit_head as (
    update audit_heads set seq = ${p(4)}::bigint, hash = ${p(5)}
     where lane = ${p(1)}::smallint and seq = ${p(2)}::bigint and hash = ${p(3)}
    returning lane)`;
}
