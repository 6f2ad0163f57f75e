import { type TSchema, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { type ApprovalRow, type ApprovalStatus, presentApproval } from "../approvals/index.ts";
import {
  exportCheckpoint,
  listAuditEvents,
  presentAuditEvent,
  recordAfter,
  verifyAuditChain,
} from "../audit/index.ts";
import { ApprovalObject, IsoTimestamp, type Routes } from "../http/index.ts";
import {
  approveHeldPayment,
  chargeApproved,
  listHeldPayments,
  type PaymentRow,
  PaymentSchema,
  presentPayment,
  refuseHeldPayment,
} from "../payments/index.ts";
import { isTimeZone } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import {
  DEFAULT_ROLE_NAMES,
  PERMISSIONS,
  presentStaff,
  requireHoldsAll,
  totpUri as totpUriFor,
} from "../staff/index.ts";
import type { AdjustmentArguments } from "./actions.ts";
import { type BackOfficeServices, idempotentWrite, runIdempotent, sendJson } from "./context.ts";

const Id = Type.String({ maxLength: 64 });
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const Loose = (description: string) => Type.Object({}, { additionalProperties: true, description });
const ListOf = (item: TSchema) =>
  Type.Object({ object: Type.Literal("list"), data: Type.Array(item), has_more: Type.Boolean() });
const Err = Type.Object({ error: Type.Object({}, { additionalProperties: true }) });
const errors = { 400: Err, 401: Err, 403: Err, 404: Err, 409: Err };
const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 10 });
const Currency = Type.String({ pattern: "^[A-Z]{3}$" });
const Str = Type.String();
const NullableStr = Type.Union([Str, Type.Null()]);
const Staff = Type.Object(
  {
    id: Str,
    object: Type.Literal("staff"),
    created: Type.String({ format: "date-time" }),
    email: Str,
    role: Str,
    merchant: NullableStr,
    mode: NullableStr,
    time_zone: NullableStr,
    locale: NullableStr,
    password_set: Type.Boolean(),
    totp_enabled: Type.Boolean(),
    disabled: Type.Boolean(),
  },
  { description: "A member of staff." },
);
const ShownOnce = (schema: TSchema) =>
  Type.Union([schema, Type.Null()], { description: "Null on a replay." });
const CreatedStaff = Type.Object({
  staff: Staff,
  api_key: ShownOnce(Type.String({ description: "sk_staff_…: shown once." })),
  totp: ShownOnce(Type.Object({ secret: Str, uri: Str }, { description: "The TOTP secret: shown once." })),
});
const Role = Type.Object(
  { id: Str, object: Type.Literal("role"), name: Str, permissions: Type.Array(Str), default: Type.Boolean() },
  { additionalProperties: true },
);
const Approval = ApprovalObject;
const Permission = Type.Object({ object: Type.Literal("permission"), name: Str, description: Str });
const AuditEvent = Type.Object(
  {
    id: Str,
    object: Type.Literal("audit_event"),
    created: Type.String({ format: "date-time" }),
    actor: Type.Unknown(),
  },
  { additionalProperties: true, description: "Who did what, when, to what: one link of the hash chain." },
);
const Checkpoint = Type.Object({
  object: Type.Literal("audit_checkpoint"),
  day: Type.String({ format: "date" }),
  created: Type.String({ format: "date-time" }),
  heads: Type.Array(
    Type.Object({ lane: Type.Integer(), seq: Type.String({ description: "A decimal integer." }), hash: Str }),
  ),
});
const Thresholds = Type.Object({
  object: Type.Literal("refund_approval_thresholds"),
  merchant: Str,
  thresholds: Type.Record(Type.String(), Type.Integer(), { description: "Minor units per currency." }),
});

/** The back office's JSON API on the secret-or-admin surface. */
export const backOfficeRoutes: Routes<BackOfficeServices> = (app, services) =>
  backOfficeApi(services)(app as unknown as FastifyInstance);

/** The back office's JSON API: staff, roles, approvals, audit log, ledger adjustments. */
function backOfficeApi(services: BackOfficeServices) {
  return async (app: FastifyInstance) => {
    const tags = ["back office"];

    app.post(
      "/staff",
      {
        schema: {
          tags,
          operationId: "createStaff",
          summary:
            "Invite a staff member (platform) or a merchant's team member; returns a personal key once.",
          body: Type.Object(
            {
              email: Type.String({ pattern: "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", maxLength: 254 }),
              role: Type.String({ minLength: 1, maxLength: 64 }),
              merchant: Type.Optional(Id),
              mode: Type.Optional(Type.Union([Type.Literal("test"), Type.Literal("live")])),
              password: Type.Optional(Type.String({ minLength: 12, maxLength: 200 })),
              time_zone: Type.Optional(Type.String({ maxLength: 64 })),
              locale: Type.Optional(Type.String({ pattern: "^[a-z]{2}$" })),
            },
            { additionalProperties: false },
          ),
          response: { 201: CreatedStaff, ...errors },
        },
      },
      async (request, reply) => {
        const body = request.body as Parameters<typeof services.staff.create>[2];
        if (body.time_zone && !isTimeZone(body.time_zone))
          throw new ApiError("parameter_invalid", "time_zone");
        return idempotentWrite(services, request, reply, async (tx, nowMs) => {
          const created = await services.staff.create(tx, request.access, body, nowMs);
          const shown = {
            staff: presentStaff(created.staff),
            api_key: created.apiKey,
            totp: { secret: created.totpSecret, uri: totpUriFor(created.staff.email, created.totpSecret) },
          };
          return {
            statusCode: 201,
            body: JSON.stringify(shown),
            storedBody: JSON.stringify({ ...shown, api_key: null, totp: null }),
          };
        });
      },
    );

    app.get(
      "/staff",
      {
        schema: {
          tags,
          operationId: "listStaff",
          summary: "Staff of the platform or of your merchant.",
          response: { 200: ListOf(Staff), ...errors },
        },
      },
      async (request, reply) => {
        const rows = await services.staff.list(request.access.actor.merchantId);
        return sendJson(reply, 200, { object: "list", data: rows.map(presentStaff), has_more: false });
      },
    );

    app.get(
      "/staff/:id",
      {
        schema: {
          tags,
          operationId: "getStaff",
          summary: "A staff member.",
          params: IdParams,
          response: { 200: Staff, ...errors },
        },
      },
      async (request, reply) => {
        const row = await services.staff.get(services.db, (request.params as { id: string }).id);
        const merchantId = request.access.actor.merchantId;
        if (!row || (merchantId !== null && row.merchant_id !== merchantId)) {
          throw new ApiError("resource_missing", "id", "No such staff member.");
        }
        return sendJson(reply, 200, presentStaff(row));
      },
    );

    app.post(
      "/staff/:id/role",
      {
        schema: {
          tags,
          operationId: "changeStaffRole",
          summary: "Ask for a role change; a second person with staff:manage approves it (202).",
          params: IdParams,
          body: Type.Object(
            { role: Type.String({ minLength: 1, maxLength: 64 }) },
            { additionalProperties: false },
          ),
          response: { 202: Approval, ...errors },
        },
      },
      async (request, reply) => {
        const id = (request.params as { id: string }).id;
        const { role } = request.body as { role: string };
        const access = request.access;
        return idempotentWrite(services, request, reply, async (tx, nowMs) => {
          const staff = await services.staff.get(tx, id);
          if (!staff || (access.actor.merchantId !== null && staff.merchant_id !== access.actor.merchantId)) {
            throw new ApiError("resource_missing", "id", "No such staff member.");
          }
          const permissions = await services.staff.rolePermissions(tx, staff.merchant_id, role);
          if (!permissions) throw new ApiError("parameter_invalid", "role", `No such role: '${role}'.`);
          requireHoldsAll(access, permissions, "role");
          const approval = await services.approvals.request(
            tx,
            access,
            "staff.role_change",
            { staff: id, from: staff.role, role },
            { merchantId: staff.merchant_id, mode: staff.mode },
            nowMs,
          );
          return { statusCode: 202, body: JSON.stringify(presentApproval(approval, nowMs)) };
        });
      },
    );

    app.get(
      "/roles",
      {
        schema: {
          tags,
          operationId: "listRoles",
          summary: "Default and custom roles with their permissions.",
          response: { 200: ListOf(Role), ...errors },
        },
      },
      async (request, reply) => {
        const roles = await services.staff.listRoles(request.access.actor.merchantId);
        return sendJson(reply, 200, { object: "list", data: roles, has_more: false });
      },
    );

    app.post(
      "/roles",
      {
        schema: {
          tags,
          operationId: "createRole",
          summary: "Define a custom role from permissions you hold yourself.",
          body: Type.Object(
            {
              name: Type.String({ pattern: "^[a-z][a-z0-9_-]{1,40}$" }),
              permissions: Type.Array(Type.String({ maxLength: 64 }), {
                minItems: 1,
                maxItems: 100,
                uniqueItems: true,
              }),
            },
            { additionalProperties: false },
          ),
          response: { 201: Role, ...errors },
        },
      },
      async (request, reply) =>
        idempotentWrite(services, request, reply, async (tx, nowMs) => ({
          statusCode: 201,
          body: JSON.stringify(
            await services.staff.createRole(
              tx,
              request.access,
              request.body as { name: string; permissions: string[] },
              nowMs,
            ),
          ),
        })),
    );

    app.get(
      "/permissions",
      {
        schema: {
          tags,
          operationId: "listPermissions",
          summary: "The permission catalogue.",
          response: { 200: ListOf(Permission), ...errors },
        },
      },
      async (_request, reply) =>
        sendJson(reply, 200, {
          object: "list",
          data: Object.entries(PERMISSIONS).map(([name, description]) => ({
            object: "permission",
            name,
            description,
          })),
          has_more: false,
          default_roles: DEFAULT_ROLE_NAMES,
        }),
    );

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
              limit: Limit,
            },
            { additionalProperties: false },
          ),
          response: { 200: ListOf(Approval), ...errors },
        },
      },
      async (request, reply) => {
        const query = request.query as { status?: ApprovalStatus; limit: number };
        const rows = await services.approvals.list(request.access, query.status, query.limit + 1);
        const nowMs = services.clock.nowMs();
        return sendJson(reply, 200, {
          object: "list",
          data: rows.slice(0, query.limit).map((r) => presentApproval(r, nowMs)),
          has_more: rows.length > query.limit,
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
        let approved: ApprovalRow | null = null;
        const response = await runIdempotent(services, request, async (tx, nowMs) => {
          approved = await services.approvals.approve(tx, request.access, id, nowMs);
          return { statusCode: 200, body: JSON.stringify(presentApproval(approved, nowMs)) };
        });
        // An action with commits of its own (a refund) runs now that its approval is recorded.
        if (approved) {
          const finished = await services.approvals.finish(request.access, approved);
          return sendJson(reply, 200, presentApproval(finished, services.clock.nowMs()));
        }
        if (response.replayed) reply.header("Idempotent-Replayed", "true");
        return sendJson(reply, response.statusCode, response.body);
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

    app.post(
      "/merchants/:id/refund_approval_thresholds",
      {
        schema: {
          tags,
          operationId: "setRefundApprovalThreshold",
          summary: "Refunds by staff above this amount (minor units) in this currency need a second person.",
          params: IdParams,
          body: Type.Object(
            {
              currency: Currency,
              amount: Type.Union([Type.Integer({ minimum: 0, maximum: 999_999_999_999 }), Type.Null()]),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Thresholds,
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const id = (request.params as { id: string }).id;
        const body = request.body as { currency: string; amount: number | null };
        return idempotentWrite(services, request, reply, async (tx) => {
          const { rows } = await tx.query<{ thresholds: Record<string, number> }>(
            `update merchants set refund_approval_thresholds = case when $3::bigint is null
               then refund_approval_thresholds - $2::text
               else refund_approval_thresholds || jsonb_build_object($2::text, $3::bigint) end
             where id = $1 returning refund_approval_thresholds as thresholds`,
            [id, body.currency, body.amount],
          );
          if (!rows[0]) throw new ApiError("resource_missing", "id", "No such merchant.");
          return {
            statusCode: 200,
            body: JSON.stringify({
              object: "refund_approval_thresholds",
              merchant: id,
              thresholds: rows[0].thresholds,
            }),
          };
        });
      },
    );

    // The risk review queue: payments a `review` rule holds before any money moves (docs/risk.md).
    const scopeOf = (access: { actor: { merchantId: string | null; mode: string | null } }) =>
      access.actor.merchantId && access.actor.mode
        ? { merchantId: access.actor.merchantId, mode: access.actor.mode as "test" | "live" }
        : null;
    const HeldPayment = Type.Composite(
      [
        PaymentSchema,
        Type.Object({
          review: Type.Object(
            {
              status: Type.Literal("open"),
              rule: Type.Union([Str, Type.Null()], { description: "The name of the rule that held it." }),
            },
            { description: "Why the payment is held." },
          ),
        }),
      ],
      { description: "A payment held for review: `status: processing`, `review.status: open`." },
    );
    // Approve and refuse answer the payment as it is after the decision (no `review` any more).
    const DecidedPayment = PaymentSchema;
    app.get(
      "/risk_reviews",
      {
        schema: {
          tags,
          operationId: "listRiskReviews",
          summary:
            "Payments held for review by a risk rule, oldest first (the admin key sees every merchant's).",
          querystring: Type.Object({ limit: Limit }, { additionalProperties: false }),
          response: { 200: ListOf(HeldPayment), ...errors },
        },
      },
      async (request, reply) => {
        const { limit } = request.query as { limit: number };
        const rows = await listHeldPayments(services.payments, scopeOf(request.access), limit + 1);
        return sendJson(reply, 200, {
          object: "list",
          data: rows.slice(0, limit).map((p) => ({
            ...presentPayment(p),
            review: { status: "open", rule: p.provider_state?.risk_rule ?? null },
          })),
          has_more: rows.length > limit,
        });
      },
    );
    app.post(
      "/risk_reviews/:id/approve",
      {
        schema: {
          tags,
          operationId: "approveRiskReview",
          summary: "Approve a held payment: the provider is asked for the money now, once.",
          params: IdParams,
          body: Type.Object({}, { additionalProperties: false }),
          response: { 200: DecidedPayment, ...errors },
        },
      },
      async (request, reply) => {
        const id = (request.params as { id: string }).id;
        let approved: PaymentRow | null = null;
        const response = await runIdempotent(services, request, async (tx, nowMs) => {
          approved = await approveHeldPayment(services.payments, tx, scopeOf(request.access), id, nowMs);
          return { statusCode: 200, body: JSON.stringify(presentPayment(approved)) };
        });
        // The decision is committed; the charge has commits of its own.
        if (approved)
          return sendJson(reply, 200, presentPayment(await chargeApproved(services.payments, approved)));
        if (response.replayed) reply.header("Idempotent-Replayed", "true");
        return sendJson(reply, response.statusCode, response.body);
      },
    );
    app.post(
      "/risk_reviews/:id/refuse",
      {
        schema: {
          tags,
          operationId: "refuseRiskReview",
          summary: "Refuse a held payment: it fails with `refused_in_review`; no money moves.",
          params: IdParams,
          body: Type.Object({}, { additionalProperties: false }),
          response: { 200: DecidedPayment, ...errors },
        },
      },
      async (request, reply) => {
        const id = (request.params as { id: string }).id;
        return idempotentWrite(services, request, reply, async (tx, nowMs) => {
          const refused = await refuseHeldPayment(services.payments, tx, scopeOf(request.access), id, nowMs);
          return { statusCode: 200, body: JSON.stringify(presentPayment(refused)) };
        });
      },
    );
  };
}
