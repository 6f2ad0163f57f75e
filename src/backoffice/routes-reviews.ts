import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import {
  approveHeldPayment,
  chargeApproved,
  listHeldPayments,
  PaymentSchema,
  presentPayment,
  refuseHeldPayment,
} from "../payments/index.ts";
import { type BackOfficeServices, decideThenRun, idempotentWrite, sendJson } from "./context.ts";
import { errors, IdParams, Limit, ListOf, Str } from "./routes-schemas.ts";

/** The risk review queue: payments a `review` rule holds before any money moves (docs/risk.md). */
export function riskReviewRoutes(app: FastifyInstance, services: BackOfficeServices, tags: string[]): void {
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
      return decideThenRun(
        services,
        request,
        reply,
        async (tx, nowMs) => {
          const approved = await approveHeldPayment(
            services.payments,
            tx,
            scopeOf(request.access),
            id,
            nowMs,
          );
          return { decided: approved, stored: presentPayment(approved) };
        },
        // The decision is committed; the charge has commits of its own (a crash before it leaves
        // the payment to reconciliation, as any attempt).
        async (approved) => presentPayment(await chargeApproved(services.payments, approved)),
      );
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
}
