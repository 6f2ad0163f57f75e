import { randomUUID } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { type RequestAudit, recordAfter, redact, runAudited } from "../audit/index.ts";
import type { Queryable } from "../db/db.ts";
import { idempotentTransaction, type StoredResult } from "../idempotency/index.ts";
import { ApiError } from "../platform/errors.ts";
import { holds, type Permission } from "../staff/index.ts";
import { type BackOfficeServices, idempotencyScope } from "./context.ts";
import type { StaffPageContext } from "./pages.ts";

/**
 * A form's own Idempotency-Key: each rendering of a form carries a fresh one, so a second submit
 * of the same form (a double click, a reload of the POST) is answered from the first's result,
 * exactly as the API answers a retried request with the same key.
 */
export function formKey(): string {
  return randomUUID();
}

export type FormOutcome =
  | { kind: "done"; statusCode: number; body: string; replayed: boolean }
  /** The same form's first submit is still running in this process. */
  | { kind: "in_flight" };

type FormServices = Pick<BackOfficeServices, "db" | "clock" | "idempotency">;

/** The signed-in staff member (the session guard has run); what they may do is checked by `formWrite`. */
export function signedIn(request: FastifyRequest): StaffPageContext {
  if (!request.staffPage) throw new ApiError("api_key_missing");
  return request.staffPage;
}

/**
 * Runs a back-office write the way the API runs one: once per form key, in one transaction with
 * its audit record; a refusal (a 4xx) and a replay are recorded after, like the API's hooks do.
 * The permission is checked here, so a refused write is in the audit log too.
 */
export async function formWrite(
  services: FormServices,
  request: FastifyRequest,
  permission: Permission,
  write: { action: string; objectHint?: string | null; changes?: unknown },
  work: (tx: Queryable, nowMs: number) => Promise<StoredResult>,
): Promise<FormOutcome> {
  const context = signedIn(request);
  const audit: RequestAudit = {
    ...context.audit,
    action: write.action,
    changes: redact(write.changes ?? null),
    objectHint: write.objectHint ?? null,
    recorded: false,
  };
  const scope = idempotencyScope(context.access);
  const key = (request.body as { idempotency_key?: unknown } | undefined)?.idempotency_key;
  try {
    if (!holds(context.access, permission))
      throw new ApiError("permission_denied", undefined, `This needs the permission '${permission}'.`);
    const response = await runAudited(audit, () =>
      services.idempotency.run(
        scope,
        {
          method: "POST",
          path: request.url.split("?")[0]!,
          body: write.changes ?? null,
          header: typeof key === "string" && key !== "" ? key : undefined,
        },
        (idempotency) => idempotentTransaction(services.db, services.clock, scope, idempotency, work),
      ),
    );
    await recordAfter(services.db, audit, response, services.clock.nowMs());
    return { kind: "done", ...response };
  } catch (error) {
    if (error instanceof ApiError && error.code === "idempotency_key_in_use") {
      await recordAfter(services.db, audit, { statusCode: 409 }, services.clock.nowMs());
      return { kind: "in_flight" };
    }
    if (error instanceof ApiError && error.status < 500)
      await recordAfter(services.db, audit, { statusCode: error.status }, services.clock.nowMs());
    throw error;
  }
}
