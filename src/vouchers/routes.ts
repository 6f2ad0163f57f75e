import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import {
  CurrencyCode,
  CustomerId,
  IdParams,
  listSchema,
  MinorAmount,
  type RouteContext,
  Timestamp,
  TimestampInput,
  withErrors,
} from "../community/routing.ts";
import type { Db } from "../db/db.ts";
import type { ListParams } from "../db/pages.ts";
import { ApprovalObject, CursorId } from "../http/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import type { Redemptions } from "./redeem.ts";
import { BATCH_COUNT_MAX, type BatchInput, presentBatch, type VoucherBatches } from "./service.ts";

const Batch = Type.Object({
  id: Type.String(),
  object: Type.Literal("voucher_batch"),
  created: Timestamp,
  status: Type.Union([Type.Literal("pending_approval"), Type.Literal("approved")]),
  count: Type.Integer(),
  value: Type.Object({}, { additionalProperties: true }),
  expires_at: Type.Union([Timestamp, Type.Null()]),
  code_format: Type.Object({ length: Type.Integer(), alphabet: Type.String(), group: Type.Integer() }),
  serial_prefix: Type.String(),
  serial_first: Type.String(),
  serial_last: Type.String(),
  breakage_rate: Type.String(),
  approved_at: Type.Union([Timestamp, Type.Null()]),
  codes_downloaded: Type.Boolean(),
});

const Serial = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1, maxLength: 40 })], {
  description: "A serial number, or the printed serial with its prefix.",
});

const RangeResult = Type.Object({
  object: Type.String(),
  batch: Type.String(),
  activated: Type.Optional(Type.Integer()),
  voided: Type.Optional(Type.Integer()),
  serial_from: Type.String(),
  serial_to: Type.String(),
});

const Redemption = Type.Object({
  id: Type.String(),
  object: Type.Literal("voucher_redemption"),
  created: Timestamp,
  status: Type.Union([Type.Literal("pending"), Type.Literal("posted")]),
  customer: Type.String(),
  batch: Type.String(),
  granted: Type.Object({}, { additionalProperties: true }),
});

const BatchBody = Type.Object(
  {
    count: Type.Integer({ minimum: 1, maximum: BATCH_COUNT_MAX }),
    value: Type.Union([
      Type.Object({ amount: MinorAmount, currency: CurrencyCode }, { additionalProperties: false }),
      Type.Object(
        {
          entitlement: Type.String({ pattern: "^[a-z0-9][a-z0-9_.-]{0,63}$" }),
          period: Type.String({ minLength: 2, maxLength: 40 }),
        },
        { additionalProperties: false },
      ),
    ]),
    expires_at: Type.Optional(TimestampInput),
    code_format: Type.Optional(
      Type.Object(
        {
          length: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
          alphabet: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          group: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 })),
        },
        { additionalProperties: false },
      ),
    ),
    serial_prefix: Type.Optional(Type.String({ pattern: "^[A-Z0-9]{0,8}$" })),
    breakage_rate: Type.Optional(
      Type.String({
        pattern: "^0(\\.[0-9]{1,6})?$",
        description: 'Expected share never redeemed, e.g. "0.1".',
      }),
    ),
  },
  { additionalProperties: false },
);

/** Scratch cards: batches, approval, the printer's file, activation, voiding, redemption, liability. */
export function voucherRoutes(
  ctx: RouteContext,
  batches: VoucherBatches,
  redemptions: Redemptions,
  db: Db,
  clock: Clock,
) {
  const idOf = (request: { params: unknown }) => (request.params as { id: string }).id;
  return async (app: FastifyInstance) => {
    app.post(
      "/voucher_batches",
      {
        schema: {
          tags: ["vouchers"],
          operationId: "createVoucherBatch",
          summary: "Order a batch of scratch cards; it waits for the platform owner's approval",
          body: BatchBody,
          response: withErrors({ 201: Batch }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        const principal = ctx.principal(request);
        const creator = principal.kind === "merchant" ? principal.keyId : "admin";
        return ctx.post(request, reply, scope, async (tx, nowMs) => ({
          statusCode: 201,
          body: JSON.stringify(await batches.create(tx, scope, creator, request.body as BatchInput, nowMs)),
        }));
      },
    );
    app.get(
      "/voucher_batches",
      {
        schema: {
          tags: ["vouchers"],
          operationId: "listVoucherBatches",
          summary: "Voucher batches, newest first",
          querystring: Type.Object(
            {
              limit: Type.Integer({
                minimum: 1,
                maximum: LIMITS.list_limit_max,
                default: LIMITS.list_limit_default,
              }),
              starting_after: Type.Optional(CursorId),
              ending_before: Type.Optional(CursorId),
            },
            { additionalProperties: false },
          ),
          response: withErrors({ 200: listSchema(Batch) }),
        },
      },
      async (request, reply) => {
        const page = await batches.list(ctx.scope(request), request.query as ListParams);
        return ctx.send(reply, 200, { object: "list", data: page.rows, has_more: page.hasMore });
      },
    );
    app.get(
      "/voucher_batches/:id",
      {
        schema: {
          tags: ["vouchers"],
          operationId: "getVoucherBatch",
          summary: "A voucher batch",
          params: IdParams,
          response: withErrors({ 200: Batch }),
        },
      },
      async (request, reply) => {
        return ctx.send(reply, 200, presentBatch(await batches.get(db, ctx.scope(request), idOf(request))));
      },
    );
    app.post(
      "/voucher_batches/:id/approve",
      {
        schema: {
          tags: ["vouchers"],
          operationId: "approveVoucherBatch",
          summary: "Approve a batch (the platform owner's admin key; never its creator): generates the codes",
          params: IdParams,
          body: Type.Optional(Type.Object({}, { additionalProperties: false })),
          response: withErrors({
            200: Batch,
            202: {
              ...ApprovalObject,
              description: "A staff member who is not the owner asked: the approval waits.",
            },
          }),
        },
      },
      async (request, reply) => {
        const id = idOf(request);
        const principal = ctx.principal(request);
        if (principal.kind !== "admin") {
          // A merchant key never approves: its own batch is refused, another's is not found.
          await batches.get(db, principal.scope, id);
          throw new ApiError("approver_is_creator");
        }
        const { rows } = await db.query<{ merchant_id: string; mode: "test" | "live" }>(
          "select merchant_id, mode from voucher_batches where id = $1",
          [id],
        );
        if (!rows[0]) throw new ApiError("resource_missing", "id", `No such voucher batch: '${id}'.`);
        const scope = { merchantId: rows[0].merchant_id, mode: rows[0].mode };
        // Read before the transaction: the embedded engine has one connection.
        const key = await batches.codeKey();
        return ctx.post(request, reply, scope, async (tx, nowMs) => ({
          statusCode: 200,
          body: JSON.stringify(await batches.approve(tx, id, "admin", key, nowMs)),
        }));
      },
    );
    app.get(
      "/voucher_batches/:id/codes",
      {
        schema: {
          tags: ["vouchers"],
          operationId: "downloadVoucherCodes",
          summary: "The printer's file (CSV serial,code): downloadable once, 410 after",
          params: IdParams,
          response: withErrors({ 200: Type.String({ description: "text/csv" }) }, 410),
        },
      },
      async (request, reply) => {
        const csv = await batches.takeCodes(ctx.scope(request), idOf(request), clock.nowMs());
        return reply
          .code(200)
          .header("cache-control", "no-store")
          .header("content-disposition", `attachment; filename="${idOf(request)}.csv"`)
          .type("text/csv; charset=utf-8")
          .send(csv);
      },
    );
    for (const action of ["activate", "void"] as const) {
      app.post(
        `/voucher_batches/:id/${action}`,
        {
          schema: {
            tags: ["vouchers"],
            operationId: action === "activate" ? "activateVouchers" : "voidVouchers",
            summary:
              action === "activate"
                ? "Activate a range of cards (sold in a shop): redeemable, and a liability from now on"
                : "Void a range of cards (a stolen box), or the whole batch without a range",
            params: IdParams,
            body:
              action === "activate"
                ? Type.Object({ serial_from: Serial, serial_to: Serial }, { additionalProperties: false })
                : Type.Object(
                    { serial_from: Type.Optional(Serial), serial_to: Type.Optional(Serial) },
                    { additionalProperties: false },
                  ),
            response: withErrors({ 200: RangeResult }),
          },
        },
        async (request, reply) => {
          const scope = ctx.scope(request);
          const id = idOf(request);
          const nowMs = clock.nowMs();
          await batches.ensureAccounts(await batches.get(db, scope, id), nowMs);
          const body = request.body as { serial_from: number | string; serial_to: number | string };
          return ctx.post(request, reply, scope, async (tx, now) => ({
            statusCode: 200,
            body: JSON.stringify(
              action === "activate"
                ? await batches.activate(tx, scope, id, body, now)
                : await batches.void(tx, scope, id, body, now),
            ),
          }));
        },
      );
    }
    app.post(
      "/voucher_redemptions",
      {
        schema: {
          tags: ["vouchers"],
          operationId: "redeemVoucher",
          summary: "Redeem a scratch card's code for a customer (every bad code: 400 voucher_invalid)",
          body: Type.Object(
            { code: Type.String({ minLength: 1, maxLength: 64 }), customer: CustomerId },
            { additionalProperties: false },
          ),
          response: withErrors({ 201: Redemption }),
        },
      },
      async (request, reply) => {
        const scope = ctx.scope(request);
        const body = request.body as { code: string; customer: string };
        return ctx.postRaw(request, reply, scope, (idem) =>
          redemptions.redeem(scope, body, request.ip, idem, clock.nowMs()),
        );
      },
    );
    app.get(
      "/voucher_redemptions/:id",
      {
        schema: {
          tags: ["vouchers"],
          operationId: "getVoucherRedemption",
          summary: "A voucher redemption",
          params: IdParams,
          response: withErrors({ 200: Redemption }),
        },
      },
      async (request, reply) =>
        ctx.send(reply, 200, await redemptions.get(db, ctx.scope(request), idOf(request))),
    );
  };
}
