import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../platform/errors.ts";
import { abandonPayment, linkHasRoom } from "./attempts.ts";
import type { CheckoutContext } from "./context.ts";
import { verifyLink } from "./link-signing.ts";
import { openLink } from "./links.ts";
import { methodModules } from "./methods/registry.ts";
import type { SessionRow } from "./model.ts";
import {
  createPageKit,
  framedByFetchDest,
  type PageKit,
  paymentInFlight,
  type SessionView,
} from "./page-kit.ts";
import { sessionByClientSecret } from "./sessions.ts";
import { Throttle } from "./throttle.ts";

/**
 * The hosted checkout: `/pay/:link` (a signed payment link opens a session), `/checkout/:id` (the
 * summary and the methods), each method's pages (methods/), the outcome, and `/embed/:secret`
 * (the embedded form's entry). Every page works without JavaScript; `checkout.js` only speeds up
 * the waiting pages and tells an embedding page the outcome.
 */

type Refusal =
  | "tampered"
  | "unknown_key"
  | "expired"
  | "inactive"
  | "used_up"
  | "session_expired"
  | "frame_refused";

const REFUSAL_STATUS: Record<Refusal, number> = {
  tampered: 403,
  unknown_key: 403,
  frame_refused: 403,
  expired: 410,
  inactive: 410,
  used_up: 410,
  session_expired: 410,
};

function refuse(
  reply: FastifyReply,
  reason: Refusal,
  extra: { frameAncestors?: string[]; locale?: string | null } = {},
) {
  return reply.page(
    "checkout/templates/refused",
    { reason },
    {
      status: REFUSAL_STATUS[reason],
      title: `checkout.refused.${reason}.title`,
      styles: ["checkout.css"],
      locale: extra.locale ?? null,
      policy: { frameAncestors: extra.frameAncestors ?? [] },
    },
  );
}

function successTarget(view: SessionView): string | null {
  const url = view.session.success_url;
  return url ? url.replaceAll("{CHECKOUT_SESSION_ID}", view.session.id) : null;
}

/** The merchant's after-completion message, for sessions opened from a link. */
async function confirmationMessage(kit: PageKit, view: SessionView): Promise<string | null> {
  if (!view.session.payment_link_id) return null;
  const { rows } = await kit.ctx.db.query<{ after_completion: { type: string; message?: string } }>(
    "select after_completion from payment_links where id = $1",
    [view.session.payment_link_id],
  );
  const after = rows[0]?.after_completion;
  return after?.type === "hosted_confirmation" ? (after.message ?? null) : null;
}

function isFramed(request: FastifyRequest): boolean {
  return request.headers["sec-fetch-dest"] === "iframe";
}

/**
 * The first opening of the page, and whether it is framed as the browser reports it (once framed,
 * always framed): the risk engine's `page_open_ms` and `framed`. Writes only when that changes.
 */
async function notePageOpened(ctx: CheckoutContext, view: SessionView, framed: boolean | undefined) {
  const s = view.session;
  if (s.page_opened_at !== null && (framed === undefined || s.framed === true || s.framed === framed)) return;
  const { rows } = await ctx.db.query<SessionRow>(
    `update checkout_sessions
        set page_opened_at = coalesce(page_opened_at, $2),
            framed = case when framed is true then true else coalesce($3, framed) end
      where id = $1 returning *`,
    [s.id, new Date(ctx.clock.nowMs()), framed ?? null],
  );
  if (rows[0]) view.session = rows[0];
}

export function checkoutPages(ctx: CheckoutContext, formSecret: string) {
  const kit = createPageKit(ctx, formSecret, new Throttle());

  return async (pages: FastifyInstance) => {
    const noCookieCsrf = { config: { csrf: false }, schema: { hide: true } } as const;

    // A payment link: verified from the URL alone, then a fresh session for this visit.
    pages.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
      "/pay/:id",
      { schema: { hide: true } },
      async (request, reply) => {
        const ring = kit.ctx.keys.cached() ?? (await kit.ctx.keys.keyring());
        const verdict = verifyLink(request.params.id, request.query, ring, ctx.clock.nowMs());
        if (!verdict.ok) return refuse(reply, verdict.reason);
        const opened = await openLink(ctx, verdict.terms.id, {});
        if (!opened.ok) return refuse(reply, opened.reason === "unknown" ? "tampered" : opened.reason);
        const lang =
          typeof request.query.lang === "string" ? `?lang=${encodeURIComponent(request.query.lang)}` : "";
        return reply.redirect(`/checkout/${opened.session.id}${lang}`, 303);
      },
    );

    // The embedded form's entry: the client secret names the session, the publishable key its merchant.
    pages.get<{ Params: { secret: string }; Querystring: { pk?: string } }>(
      "/embed/:secret",
      { schema: { hide: true } },
      async (request, reply) => {
        const session = await sessionByClientSecret(ctx.db, request.params.secret);
        if (!session)
          throw new ApiError("resource_missing", undefined, "There is no payment page at this address.");
        const key = request.query.pk ?? "";
        let merchantId: string | null = null;
        try {
          const auth = await ctx.authenticate(`Bearer ${key}`);
          if (auth.kind === "merchant" && auth.keyType === "publishable" && auth.mode === session.mode)
            merchantId = auth.merchantId;
        } catch {
          merchantId = null;
        }
        if (merchantId !== session.merchant_id)
          return refuse(reply, "frame_refused", { locale: session.locale });
        // The embedded form's entry reports a framed page, unless the browser says it is not.
        if (framedByFetchDest(request) !== false)
          await ctx.db.query(
            "update checkout_sessions set framed = true where id = $1 and framed is not true",
            [session.id],
          );
        return reply.redirect(`/checkout/${session.id}`, 303);
      },
    );

    pages.get("/checkout/:id", { schema: { hide: true } }, async (request, reply) => {
      const view = await kit.load(request);
      if (view.session.status === "expired")
        return refuse(reply, "session_expired", {
          frameAncestors: view.allowedOrigins,
          locale: view.session.locale,
        });
      if (view.session.status === "complete") return reply.redirect(`/checkout/${view.session.id}/done`, 303);
      const payment = await paymentInFlight(kit, view);
      if (payment) return reply.redirect(kit.nextUrl(view, payment), 303);
      if (view.session.status !== "open") return reply.redirect(kit.nextUrl(view), 303);
      // The link's uses are taken (completed, or in flight on its other sessions): nothing to pay here.
      const linkId = view.session.payment_link_id;
      if (linkId && !(await ctx.db.transaction((tx) => linkHasRoom(tx, linkId, view.session.id))))
        return refuse(reply, "used_up", { frameAncestors: view.allowedOrigins, locale: view.session.locale });
      await notePageOpened(ctx, view, framedByFetchDest(request));
      await ctx.db.query(
        `insert into checkout_steps (id, session_id, merchant_id, mode, app_id, country, step, created)
         select $1, $2, $3, $4, $5, $6, 'page_opened', $7
          where not exists (select 1 from checkout_steps where session_id = $2 and step = 'page_opened')`,
        [
          `cstep_${view.session.id.slice(3)}`,
          view.session.id,
          view.session.merchant_id,
          view.session.mode,
          view.session.app_id,
          view.session.payer.country ?? null,
          new Date(ctx.clock.nowMs()),
        ],
      );
      const methods = methodModules().filter(
        (m) =>
          view.session.payment_method_types.includes(m.type) &&
          m.available(view.session.mode) &&
          (m.offered?.(view.session, kit) ?? true),
      );
      if (methods.length === 1 && !(request.query as { error?: string }).error)
        return reply.redirect(`/checkout/${view.session.id}/${methods[0]!.type}`, 303);
      return kit.render(
        reply,
        view,
        "checkout/templates/methods",
        { methods },
        { title: "checkout.methods.title" },
      );
    });

    // Back to the method list: the payment waiting for the payer is canceled first.
    pages.post("/checkout/:id/back", noCookieCsrf, async (request, reply) => {
      const view = await kit.load(request);
      kit.checkForm(request, view);
      if (view.session.status === "open") await abandonPayment(ctx, view.session);
      return reply.redirect(`/checkout/${view.session.id}?error=none`, 303);
    });

    pages.get("/checkout/:id/processing", { schema: { hide: true } }, async (request, reply) => {
      const view = await kit.load(request);
      const payment = await paymentInFlight(kit, view);
      const next = kit.nextUrl(view, payment);
      if (!payment || !next.endsWith("/processing")) return reply.redirect(next, 303);
      return kit.render(
        reply,
        view,
        "checkout/templates/processing",
        {},
        { title: "checkout.processing.title", refreshSeconds: 3 },
      );
    });

    // For checkout.js: where the payer belongs now (the waiting pages poll it).
    pages.get("/checkout/:id/status", { schema: { hide: true } }, async (request, reply) => {
      const view = await kit.load(request);
      const payment = await paymentInFlight(kit, view);
      let next = kit.nextUrl(view, payment);
      // Back from the card provider's page: wait here rather than be sent to it again.
      if (
        (request.query as { returned?: string }).returned === "1" &&
        payment?.next_action?.type === "redirect_to_url"
      )
        next = `/checkout/${view.session.id}/card/complete`;
      return reply
        .header("cache-control", "no-store")
        .type("application/json; charset=utf-8")
        .send(JSON.stringify({ status: view.session.status, next }));
    });

    pages.get("/checkout/:id/done", { schema: { hide: true } }, async (request, reply) => {
      const view = await kit.load(request);
      if (view.session.status !== "complete") {
        if (view.session.status === "expired")
          return refuse(reply, "session_expired", {
            frameAncestors: view.allowedOrigins,
            locale: view.session.locale,
          });
        return reply.redirect(kit.nextUrl(view, await paymentInFlight(kit, view)), 303);
      }
      const target = successTarget(view);
      if (target && !isFramed(request)) return reply.redirect(target, 303);
      return kit.render(
        reply,
        view,
        "checkout/templates/done",
        { successUrl: target, message: await confirmationMessage(kit, view) },
        { title: "checkout.done.title" },
      );
    });

    for (const method of methodModules()) method.register(pages, kit);
  };
}
