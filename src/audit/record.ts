import type { Db, Queryable } from "../db/db.ts";
import { newId } from "../platform/ids.ts";
import { type AuditDraft, appendAudit } from "./chain.ts";
import { currentAudit, type RequestAudit } from "./context.ts";

/** The id of the object a response describes: `id`, or the id of its one nested object. */
export function objectOf(body: string | null | undefined, hint: string | null): string | null {
  if (body) {
    try {
      const parsed = JSON.parse(body) as Record<string, unknown>;
      if (typeof parsed.id === "string") return parsed.id;
      for (const value of Object.values(parsed)) {
        if (value && typeof value === "object" && typeof (value as { id?: unknown }).id === "string")
          return (value as { id: string }).id;
      }
    } catch {
      // Not JSON: no object.
    }
  }
  return hint;
}

export function draftFor(
  context: RequestAudit,
  outcome: { statusCode: number; object: string | null },
  nowMs: number,
): AuditDraft {
  return {
    id: newId("aud", nowMs),
    createdMs: nowMs,
    actor: context.actor.id,
    actorKind: context.actor.kind,
    credential: context.actor.credential,
    merchantId: context.actor.merchantId,
    mode: context.actor.mode,
    action: context.action,
    object: outcome.object,
    ip: context.ip,
    userAgent: context.userAgent,
    requestId: context.requestId,
    outcome: outcome.statusCode < 400 ? "success" : "refused",
    statusCode: outcome.statusCode,
    changes: context.changes,
  };
}

/**
 * Records the current request's write inside its transaction (the idempotent-write helper calls
 * this just before it commits). A request records once; outside a request, nothing happens.
 */
export async function recordInTransaction(
  tx: Queryable,
  result: { statusCode: number; body: string },
  nowMs: number,
): Promise<RequestAudit | null> {
  const context = currentAudit();
  if (!context || context.recorded) return null;
  await appendAudit(tx, [
    draftFor(
      context,
      { statusCode: result.statusCode, object: objectOf(result.body, context.objectHint) },
      nowMs,
    ),
  ]);
  return context;
}

/**
 * Records a request that wrote nothing through the helper (a refusal, a read of the audit log, a
 * route with its own transactions) in a transaction of its own.
 */
export async function recordAfter(
  db: Db,
  context: RequestAudit,
  outcome: { statusCode: number; body?: string | null },
  nowMs: number,
): Promise<void> {
  if (context.recorded) return;
  context.recorded = true;
  const draft = draftFor(
    context,
    { statusCode: outcome.statusCode, object: objectOf(outcome.body, context.objectHint) },
    nowMs,
  );
  await db.transaction((tx) => appendAudit(tx, [draft]));
}

/** One change a background job made to business state. */
export interface SystemChange {
  action: string;
  object: string | null;
  merchantId?: string | null;
  mode?: string | null;
  changes?: unknown;
}

/**
 * What a system job did (actor `system:<job>`), recorded in the job's own transaction: the record
 * commits or rolls back with the change. Several changes go in one statement.
 */
export async function recordSystem(
  tx: Queryable,
  job: string,
  entries: SystemChange | readonly SystemChange[],
  nowMs: number,
): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries as SystemChange];
  await appendAudit(
    tx,
    list.map((entry) => ({
      id: newId("aud", nowMs),
      createdMs: nowMs,
      actor: `system:${job}`,
      actorKind: "system",
      credential: null,
      merchantId: entry.merchantId ?? null,
      mode: entry.mode ?? null,
      action: entry.action,
      object: entry.object,
      ip: null,
      userAgent: null,
      requestId: null,
      outcome: "success",
      statusCode: null,
      changes: entry.changes ?? null,
    })),
  );
}
