import type { FastifyInstance } from "fastify";
import {
  declineRefundRequest,
  executeRefund,
  listRefundRequests,
  markRefundRequestApproved,
  type Payers,
  presentRefundRequest,
  type RefundRequestRow,
} from "../payers/index.ts";
import { ApiError } from "../platform/errors.ts";
import { holds } from "../staff/index.ts";
import type { BackOfficeServices } from "./context.ts";
import { formKey, formWrite, signedIn } from "./forms.ts";
import { addAdminNavigation, adminPage, requirePagePermission, scopeOf } from "./pages.ts";

addAdminNavigation({
  key: "nav.refund_requests",
  href: "/admin/refund-requests",
  permission: "payment:read",
});

const SHOWN = 50;
const NOTICES = new Set(["approved", "declined", "already"]);
const REASON_LENGTH_MAX = 500;

/**
 * `/admin/refund-requests`: what payers asked from the portal, waiting for the merchant. Approve and
 * Decline call the same functions as `POST /v1/refund_requests/:id/approve|decline`, so the
 * request, its events and its one refund are the API's; the payer sees the answer in the portal.
 * Deciding needs `payment:refund`, like refunding from the payment's page.
 */
export function refundRequestPages(services: BackOfficeServices & { payers: Payers }) {
  return (pages: FastifyInstance) => {
    pages.get("/admin/refund-requests", { schema: { hide: true } }, async (request, reply) => {
      const context = requirePagePermission(request, "payment:read");
      const { rows: requests } = await listRefundRequests(
        services.db,
        scopeOf(context),
        { status: "pending" },
        { limit: SHOWN },
      );
      const done = (request.query as { done?: string }).done;
      return adminPage(
        reply,
        "backoffice/templates/refund-requests",
        {
          requests,
          canDecide: holds(context.access, "payment:refund"),
          newKey: formKey,
          reasonLengthMax: REASON_LENGTH_MAX,
          notice: done && NOTICES.has(done) ? done : null,
        },
        { title: "refund_requests.title" },
      );
    });

    for (const decision of ["approve", "decline"] as const) {
      pages.post(
        `/admin/refund-requests/:id/${decision}`,
        { schema: { hide: true } },
        async (request, reply) => {
          const context = signedIn(request);
          const id = (request.params as { id: string }).id;
          const reason = String((request.body as { reason?: unknown } | undefined)?.reason ?? "").trim();
          if (reason.length > REASON_LENGTH_MAX) throw new ApiError("parameter_invalid", "reason");
          const approved: { row: RefundRequestRow | null } = { row: null };
          let outcome: Awaited<ReturnType<typeof formWrite>>;
          try {
            outcome = await formWrite(
              services,
              request,
              "payment:refund",
              {
                action: `refund_requests.${decision}`,
                objectHint: id,
                changes: decision === "decline" ? { refund_request: id, reason } : { refund_request: id },
              },
              async (tx, nowMs) => {
                const scope = scopeOf(context);
                if (decision === "decline") {
                  const declined = await declineRefundRequest(tx, scope, id, reason || undefined, nowMs);
                  return { statusCode: 200, body: JSON.stringify(declined) };
                }
                approved.row = await markRefundRequestApproved(tx, scope, id, nowMs);
                return { statusCode: 200, body: JSON.stringify(presentRefundRequest(approved.row)) };
              },
            );
          } catch (error) {
            // Decided meanwhile (another tab, another person, the payer's automatic policy).
            if (error instanceof ApiError && error.code === "refund_request_unexpected_state")
              return reply.redirect("/admin/refund-requests?done=already", 303);
            throw error;
          }
          // The approval is committed; the refund has commits of its own, keyed by the request, once.
          if (approved.row && approved.row.refund_id === null)
            await executeRefund(services.payers.ctx, approved.row);
          const fresh = outcome.kind === "done" && !outcome.replayed;
          return reply.redirect(
            `/admin/refund-requests?done=${fresh ? (decision === "approve" ? "approved" : "declined") : "already"}`,
            303,
          );
        },
      );
    }
  };
}
