import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import {
  exportCheckpoint,
  listAuditEvents,
  presentAuditEvent,
  recordAfter,
  verifyAuditChain,
} from "../audit/index.ts";
import { IsoTimestamp } from "../http/index.ts";
import { type BackOfficeServices, sendJson } from "./context.ts";
import { AuditEvent, Checkpoint, errors, Id, Limit, ListOf, Loose } from "./routes-schemas.ts";

/** The audit log: events, the chain's verification, daily checkpoints. */
export function auditRoutes(app: FastifyInstance, services: BackOfficeServices, tags: string[]): void {
  app.get(
    "/audit_events",
    {
      schema: {
        tags,
        operationId: "listAuditEvents",
        summary:
          "The audit log, newest first, filtered by actor, object, action and time. Reading it is audited.",
        querystring: Type.Object(
          {
            actor: Type.Optional(Type.String({ maxLength: 100 })),
            object: Type.Optional(Type.String({ maxLength: 100 })),
            action: Type.Optional(Type.String({ maxLength: 100 })),
            // A real calendar instant: a pattern alone let 5210-55-63 through to the database (500).
            from: Type.Optional(IsoTimestamp),
            to: Type.Optional(IsoTimestamp),
            limit: Limit,
            starting_after: Type.Optional(Id),
            ending_before: Type.Optional(Id),
          },
          { additionalProperties: false },
        ),
        response: { 200: ListOf(AuditEvent), ...errors },
      },
    },
    async (request, reply) => {
      const query = request.query as {
        actor?: string;
        object?: string;
        action?: string;
        from?: string;
        to?: string;
        limit: number;
        starting_after?: string;
        ending_before?: string;
      };
      const page = await listAuditEvents(
        services.db,
        { ...query, merchantId: request.access.actor.merchantId },
        query,
      );
      // The read is on the record before the reader sees anything.
      if (request.audit) {
        await recordAfter(services.db, request.audit, { statusCode: 200 }, services.clock.nowMs());
      }
      return sendJson(reply, 200, {
        object: "list",
        data: page.rows.map(presentAuditEvent),
        has_more: page.hasMore,
      });
    },
  );

  app.get(
    "/audit_events/verify",
    {
      schema: {
        tags,
        operationId: "verifyAuditEvents",
        summary: "Walk the whole hash chain; `first_broken` names the first row that does not match.",
        response: {
          200: Type.Object({
            object: Type.String(),
            valid: Type.Boolean(),
            checked: Type.Integer(),
            first_broken: Type.Optional(Loose("The first broken link: id, lane, seq, created, reason.")),
          }),
          ...errors,
        },
      },
    },
    async (_request, reply) => {
      return sendJson(reply, 200, await verifyAuditChain(services.db));
    },
  );

  app.get(
    "/audit_events/checkpoint",
    {
      schema: {
        tags,
        operationId: "exportAuditCheckpoint",
        summary: "The chain's heads now, to keep outside the database.",
        response: { 200: Checkpoint, ...errors },
      },
    },
    async (_request, reply) => {
      return sendJson(reply, 200, await exportCheckpoint(services.db, services.clock.nowMs()));
    },
  );
}
