import type { FastifyInstance } from "fastify";
import { ApiError } from "../platform/errors.ts";
import type { BackOfficeServices } from "./context.ts";
import { formWrite, signedIn } from "./forms.ts";
import { scopeOf } from "./pages.ts";

const ACTIONS = ["activate", "void"] as const;
type RangeAction = (typeof ACTIONS)[number];

/** A serial as typed on the page: the printed form (prefix and digits) or the bare number. */
function serialField(value: unknown, field: string): string {
  const text = String(value ?? "").trim();
  if (!/^[A-Za-z0-9-]{1,40}$/.test(text))
    throw new ApiError("parameter_invalid", field, `${field}: enter a serial number as printed on the card.`);
  return text;
}

/**
 * `/admin/vouchers/:id/activate|void`: cards sold in a shop become redeemable (and a liability), a
 * stolen box is voided. The same service functions as the API, once per form (idempotency key),
 * audited in the same commit; the page says how many cards changed.
 */
export function voucherRangePages(services: BackOfficeServices) {
  return (pages: FastifyInstance) => {
    for (const action of ACTIONS) {
      pages.post(`/admin/vouchers/:id/${action}`, { schema: { hide: true } }, async (request, reply) => {
        const scope = scopeOf(signedIn(request));
        const id = (request.params as { id: string }).id;
        const body = request.body as { serial_from?: unknown; serial_to?: unknown };
        const range = {
          serial_from: serialField(body.serial_from, "serial_from"),
          serial_to: serialField(body.serial_to, "serial_to"),
        };
        const batches = services.community.batches;
        await batches.ensureAccounts(await batches.get(services.db, scope, id), services.clock.nowMs());
        const outcome = await formWrite(
          services,
          request,
          "voucher:write",
          { action: `voucher_batches.${action}`, objectHint: id, changes: range },
          async (tx, nowMs) => {
            const result =
              action === "activate"
                ? await batches.activate(tx, scope, id, range, nowMs)
                : await batches.void(tx, scope, id, range, nowMs);
            return { statusCode: 200, body: JSON.stringify(result) };
          },
        );
        if (outcome.kind === "in_flight") return reply.redirect("/admin/vouchers?done=already", 303);
        const result = JSON.parse(outcome.body) as { activated?: number; voided?: number };
        const count = (action satisfies RangeAction) === "activate" ? result.activated : result.voided;
        const done = outcome.replayed ? "already" : action === "activate" ? "activated" : "voided";
        return reply.redirect(
          `/admin/vouchers?done=${done}&count=${count ?? 0}#${encodeURIComponent(id)}`,
          303,
        );
      });
    }
  };
}
