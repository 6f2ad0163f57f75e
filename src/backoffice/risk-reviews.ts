import type { FastifyInstance } from "fastify";
import {
  approveHeldPayment,
  chargeApproved,
  listHeldPayments,
  type PaymentRow,
  presentPayment,
  refuseHeldPayment,
} from "../payments/index.ts";
import { ApiError } from "../platform/errors.ts";
import type { Risk } from "../risk/index.ts";
import { holds } from "../staff/index.ts";
import type { BackOfficeServices } from "./context.ts";
import { formKey, formWrite, signedIn } from "./forms.ts";
import { addAdminNavigation, adminPage, requirePagePermission } from "./pages.ts";

addAdminNavigation({ key: "nav.risk_reviews", href: "/admin/risk/reviews", permission: "risk:read" });

const SHOWN = 50;
const NOTICES = new Set(["approved", "refused", "already"]);

/**
 * `/admin/risk/reviews`: the payments a `review` rule holds, with the rule and the attribute
 * values it read; Approve and Refuse call the same functions as `POST /v1/risk_reviews/:id/…`,
 * so the payment, its events and its single charge are the API's. A merchant's team sees its
 * merchant's queue; platform staff see every merchant's (as the admin key does).
 */
export function riskReviewPages(services: BackOfficeServices & { risk: Risk }) {
  const scopeOf = (context: { scope: { merchantId: string; mode: "test" | "live" } | null }) => context.scope;

  return (pages: FastifyInstance) => {
    pages.get("/admin/risk/reviews", { schema: { hide: true } }, async (request, reply) => {
      const context = requirePagePermission(request, "risk:read");
      const held = await listHeldPayments(services.payments, scopeOf(context), SHOWN);
      const decisions = await services.risk.settings.reviewDecisions(held.map((p) => p.id));
      const done = (request.query as { done?: string }).done;
      return adminPage(
        reply,
        "backoffice/templates/risk-reviews",
        {
          payments: held.map((p) => ({
            ...presentPayment(p),
            rule: (p.provider_state?.risk_rule as string | undefined) ?? null,
            decision: decisions.find((d) => d.payment === p.id) ?? null,
          })),
          canDecide: holds(context.access, "risk:write"),
          newKey: formKey,
          notice: done && NOTICES.has(done) ? done : null,
        },
        { title: "risk_reviews.title" },
      );
    });

    for (const decision of ["approve", "refuse"] as const) {
      pages.post(
        `/admin/risk/reviews/:id/${decision}`,
        { schema: { hide: true } },
        async (request, reply) => {
          const context = signedIn(request);
          const id = (request.params as { id: string }).id;
          const approved: { row: PaymentRow | null } = { row: null };
          let outcome: Awaited<ReturnType<typeof formWrite>>;
          try {
            outcome = await formWrite(
              services,
              request,
              "risk:write",
              { action: `risk_reviews.${decision}`, objectHint: id, changes: { payment: id } },
              async (tx, nowMs) => {
                const scope = scopeOf(context);
                const decided =
                  decision === "approve"
                    ? await approveHeldPayment(services.payments, tx, scope, id, nowMs)
                    : await refuseHeldPayment(services.payments, tx, scope, id, nowMs);
                if (decision === "approve") approved.row = decided;
                return { statusCode: 200, body: JSON.stringify(presentPayment(decided)) };
              },
            );
          } catch (error) {
            // Decided meanwhile (another tab, another person): nothing more happens, and the page says so.
            if (error instanceof ApiError && error.code === "payment_unexpected_state")
              return reply.redirect("/admin/risk/reviews?done=already", 303);
            throw error;
          }
          // The decision is committed; the charge has commits of its own, once (a replay has no row).
          if (approved.row) await chargeApproved(services.payments, approved.row);
          const fresh = outcome.kind === "done" && !outcome.replayed;
          return reply.redirect(
            `/admin/risk/reviews?done=${fresh ? (decision === "approve" ? "approved" : "refused") : "already"}`,
            303,
          );
        },
      );
    }
  };
}
