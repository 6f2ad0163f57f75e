import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { type ApprovalStatus, presentApproval } from "../approvals/index.ts";
import type { ListParams } from "../db/pages.ts";
import { ListQuery } from "../http/index.ts";
import { ApiError } from "../platform/errors.ts";
import type { AdjustmentArguments } from "./actions.ts";
import { type BackOfficeServices, decideThenRun, idempotentWrite, sendJson } from "./context.ts";
import { Approval, Currency, errors, Id, IdParams, ListOf } from "./routes-schemas.ts";

/** Ledger adjustments (four eyes) and the approvals queue. */
export function approvalRoutes(app: FastifyInstance, services: BackOfficeServices, tags: string[]): void {
  app.post(
    "/ledger/adjustments",
    {
      schema: {
        tags,
        operationId: "requestLedgerAdjustment",
        summary: "Ask for a manual ledger adjustment; it runs once a second person approves it (202).",
        body: Type.Object(
          {
            merchant: Type.Optional(Id),
            currency: Currency,
            amount: Type.Integer({ minimum: 1, maximum: 999_999_999_999 }),
            direction: Type.Union([Type.Literal("credit"), Type.Literal("debit")]),
            reason: Type.String({ minLength: 1, maxLength: 500 }),
          },
          { additionalProperties: false },
        ),
        response: { 202: Approval, ...errors },
      },
    },
    async (request, reply) => {
      const access = request.access;
      const body = request.body as Omit<AdjustmentArguments, "merchant" | "mode"> & { merchant?: string };
      const merchant = access.actor.merchantId ?? body.merchant;
      if (!merchant)
        throw new ApiError("parameter_missing", "merchant", "Name the merchant whose ledger to adjust.");
      if (access.actor.merchantId && body.merchant && body.merchant !== access.actor.merchantId) {
        throw new ApiError("resource_missing", "merchant", "No such merchant.");
      }
      const mode = access.auth.kind === "merchant" ? access.auth.mode : "test";
      return idempotentWrite(services, request, reply, async (tx, nowMs) => {
        const { rowCount } = await tx.query("select 1 from merchants where id = $1", [merchant]);
        if (rowCount === 0) throw new ApiError("resource_missing", "merchant", "No such merchant.");
        const args: AdjustmentArguments = { ...body, merchant, mode };
        const approval = await services.approvals.request(
          tx,
          access,
          "ledger.adjustment",
          { ...args },
          { merchantId: merchant, mode },
          nowMs,
        );
        return { statusCode: 202, body: JSON.stringify(presentApproval(approval, nowMs)) };
      });
    },
  );

  app.get(
    "/approvals",
    {
      schema: {
        tags,
        operationId: "listApprovals",
        summary: "Approvals, newest first; `status=pending` for those waiting.",
        querystring: Type.Object(
          {
            status: Type.Optional(
              Type.Union(
                ["pending", "approved", "rejected", "expired", "failed"].map((s) => Type.Literal(s)),
              ),
            ),
            ...ListQuery.properties,
          },
          { additionalProperties: false },
        ),
        response: { 200: ListOf(Approval), ...errors },
      },
    },
    async (request, reply) => {
      const { status, ...list } = request.query as { status?: ApprovalStatus } & ListParams;
      const page = await services.approvals.list(request.access, status, list);
      const nowMs = services.clock.nowMs();
      return sendJson(reply, 200, {
        object: "list",
        data: page.rows.map((r) => presentApproval(r, nowMs)),
        has_more: page.hasMore,
      });
    },
  );

  app.get(
    "/approvals/:id",
    {
      schema: {
        tags,
        operationId: "getApproval",
        summary: "An approval.",
        params: IdParams,
        response: { 200: Approval, ...errors },
      },
    },
    async (request, reply) => {
      const row = await services.approvals.get(
        services.db,
        request.access,
        (request.params as { id: string }).id,
      );
      return sendJson(reply, 200, presentApproval(row, services.clock.nowMs()));
    },
  );

  app.post(
    "/approvals/:id/approve",
    {
      schema: {
        tags,
        operationId: "approveApproval",
        summary: "Approve and run an action someone else asked for, with exactly its arguments.",
        params: IdParams,
        body: Type.Object({}, { additionalProperties: false }),
        response: { 200: Approval, ...errors },
      },
    },
    async (request, reply) => {
      const id = (request.params as { id: string }).id;
      await services.approvals.prepare(request.access, id);
      return decideThenRun(
        services,
        request,
        reply,
        async (tx, nowMs) => {
          const approved = await services.approvals.approve(tx, request.access, id, nowMs);
          return { decided: approved, stored: presentApproval(approved, nowMs) };
        },
        // An action with commits of its own (a refund) runs now that its approval is recorded.
        async (approved) =>
          presentApproval(await services.approvals.finish(request.access, approved), services.clock.nowMs()),
      );
    },
  );

  app.post(
    "/approvals/:id/reject",
    {
      schema: {
        tags,
        operationId: "rejectApproval",
        summary: "Reject an action someone else asked for.",
        params: IdParams,
        body: Type.Object({}, { additionalProperties: false }),
        response: { 200: Approval, ...errors },
      },
    },
    async (request, reply) => {
      const id = (request.params as { id: string }).id;
      return idempotentWrite(services, request, reply, async (tx, nowMs) => {
        const row = await services.approvals.reject(tx, request.access, id, nowMs);
        return { statusCode: 200, body: JSON.stringify(presentApproval(row, nowMs)) };
      });
    },
  );
}
