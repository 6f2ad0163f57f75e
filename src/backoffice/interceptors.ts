import type { FastifyReply, FastifyRequest } from "fastify";
import { presentApproval } from "../approvals/index.ts";
import type { BackOfficeServices } from "./context.ts";
import { idempotentWrite } from "./context.ts";
import { approveBatchAsStaff, batchFor } from "./vouchers.ts";

/** Answers the request itself (true) or lets the route run (false). */
export type Interceptor = (request: FastifyRequest, reply: FastifyReply) => Promise<boolean>;

/** The amount above which a staff member's refund waits for a second person, if any. */
async function refundThreshold(
  services: BackOfficeServices,
  merchantId: string,
  currency: string,
): Promise<bigint | null> {
  const { rows } = await services.db.query<{ thresholds: Record<string, number> }>(
    "select refund_approval_thresholds as thresholds from merchants where id = $1",
    [merchantId],
  );
  const value = rows[0]?.thresholds?.[currency];
  return typeof value === "number" ? BigInt(value) : null;
}

/**
 * Routes owned by other capabilities whose requests, in some cases, become approvals instead of
 * running: the route itself does not change.
 */
export function fourEyesInterceptors(services: BackOfficeServices): Map<string, Interceptor> {
  const interceptors = new Map<string, Interceptor>();

  // A staff member's refund above the merchant's threshold.
  interceptors.set("POST /v1/refunds", async (request, reply) => {
    const access = request.access;
    if (access.actor.kind !== "staff" || access.auth.kind !== "merchant") return false;
    const { merchantId, mode } = access.auth;
    const body = request.body as { payment: string; amount?: number; reason?: string };
    const { rows } = await services.db.query<{
      currency: string;
      amount_captured: bigint;
      amount_refund_reserved: bigint;
    }>(
      "select currency, amount_captured, amount_refund_reserved from payments where id = $1 and merchant_id = $2 and mode = $3",
      [body.payment, merchantId, mode],
    );
    const payment = rows[0];
    if (!payment) return false; // The route answers 404 itself.
    const threshold = await refundThreshold(services, merchantId, payment.currency);
    const amount =
      body.amount !== undefined
        ? BigInt(body.amount)
        : BigInt(payment.amount_captured) - BigInt(payment.amount_refund_reserved);
    if (threshold === null || amount <= threshold) return false;
    await idempotentWrite(services, request, reply, async (tx, nowMs) => {
      const approval = await services.approvals.request(
        tx,
        access,
        "refund.create",
        {
          merchant: merchantId,
          mode,
          payment: body.payment,
          amount: Number(amount),
          ...(body.reason ? { reason: body.reason } : {}),
        },
        { merchantId, mode },
        nowMs,
      );
      return { statusCode: 202, body: JSON.stringify(presentApproval(approval, nowMs)) };
    });
    return true;
  });

  // A staff member's approval of a voucher batch: an owner's runs, anyone else's waits (202).
  interceptors.set("POST /v1/voucher_batches/:id/approve", async (request, reply) => {
    const access = request.access;
    if (access.actor.kind !== "staff") return false;
    const batch = await batchFor(services.db, access, (request.params as { id: string }).id);
    // Read before the transaction: the embedded engine has one connection.
    const key = await services.community.batches.codeKey();
    await idempotentWrite(services, request, reply, (tx, nowMs) =>
      approveBatchAsStaff(services, tx, access, batch, key, nowMs),
    );
    return true;
  });

  return interceptors;
}
