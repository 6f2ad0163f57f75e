import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../../platform/errors.ts";
import { followPayment, PaymentInFlight, SessionClosed, startPayment } from "../attempts.ts";
import type { CardTokenInfo } from "../context.ts";
import { type PageKit, paymentInFlight, type SessionView } from "../page-kit.ts";
import type { MethodModule } from "./registry.ts";

/**
 * Cards on the hosted page. The card form posts straight to the card provider's tokenization
 * form (its origin is the only other one in `form-action`), which keeps the card and sends the
 * browser back to `/card/return?token=…`: the card number never reaches Centime. The payer then
 * confirms ("Pay €1.99 with visa •••• 4242"), and the payment names the token. A 3-D Secure step
 * is the provider's page; it sends the payer back to `/card/complete`.
 */

const TOKEN_PATTERN = /^tok_[A-Za-z0-9_-]{8,64}$/;

/** The provider's answers on the way back, and ours: message key and the field it concerns. */
const ERRORS: Record<string, { key: string; field: string }> = {
  number_invalid: { key: "card.error.number_invalid", field: "card-number" },
  expiry_invalid: { key: "card.error.expiry_invalid", field: "card-exp-month" },
  cvc_invalid: { key: "card.error.cvc_invalid", field: "card-cvc" },
  token: { key: "card.error.token", field: "card-number" },
  declined: { key: "card.declined", field: "card-number" },
};

/** How long the return from a 3-D Secure step waits for the provider's notification. */
const SETTLE_WAIT_MS = 8_000;

function formUrl(kit: PageKit): URL | null {
  const raw = kit.ctx.settings.cardFormUrl();
  if (!raw) return null;
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

function renderForm(
  kit: PageKit,
  reply: FastifyReply,
  view: SessionView,
  form: URL,
  errorCode: string | undefined,
) {
  const error = errorCode ? ERRORS[errorCode] : undefined;
  return kit.render(
    reply,
    view,
    "checkout/templates/card-form",
    {
      action: form.toString(),
      returnUrl: `${kit.ctx.publicUrl()}/checkout/${view.session.id}/card/return`,
      error: error?.key ?? null,
      errorField: error?.field ?? null,
      years: Array.from({ length: 16 }, (_, i) => new Date(kit.ctx.clock.nowMs()).getUTCFullYear() + i),
      // Preselected with the first year, so the default date is this month: never already expired.
      currentMonth: new Date(kit.ctx.clock.nowMs()).getUTCMonth() + 1,
    },
    // Forms of this page may post to the card provider, and to nobody else but Centime.
    { title: "card.title", status: error ? 400 : 200, policy: { formAction: [form.origin] } },
  );
}

async function lookup(kit: PageKit, token: string): Promise<CardTokenInfo | null> {
  if (!kit.ctx.cardToken) return null;
  try {
    return await kit.ctx.cardToken(token);
  } catch (error) {
    kit.ctx.logger.warn({ err: error }, "the card provider could not be asked about a token");
    return null;
  }
}

function register(pages: FastifyInstance, kit: PageKit): void {
  const ctx = kit.ctx;
  const form = { config: { csrf: false }, schema: { hide: true } } as const;
  const base = (view: SessionView) => `/checkout/${view.session.id}`;

  /** The session, open and offering cards, with no payment in flight; or the reply already sent. */
  async function openForCards(request: FastifyRequest, reply: FastifyReply) {
    const view = await kit.load(request);
    const payment = await paymentInFlight(kit, view);
    if (view.session.status !== "open" || payment) {
      await reply.redirect(kit.nextUrl(view, payment), 303);
      return null;
    }
    const card = formUrl(kit);
    if (!view.session.payment_method_types.includes("card") || !card) {
      await reply.redirect(base(view), 303);
      return null;
    }
    return { view, card };
  }

  pages.get("/checkout/:id/card", { schema: { hide: true } }, async (request, reply) => {
    const open = await openForCards(request, reply);
    if (!open) return reply;
    const { error } = request.query as { error?: string };
    if (!error) await kit.step(open.view, "method_chosen", { method: "card" });
    return renderForm(kit, reply, open.view, open.card, error);
  });

  // Back from the provider's form: a token (or what was wrong with the card), never the card.
  pages.get("/checkout/:id/card/return", { schema: { hide: true } }, async (request, reply) => {
    const open = await openForCards(request, reply);
    if (!open) return reply;
    const { view } = open;
    const { token, error } = request.query as { token?: string; error?: string };
    if (error || typeof token !== "string" || !TOKEN_PATTERN.test(token))
      return reply.redirect(`${base(view)}/card?error=${error && ERRORS[error] ? error : "token"}`, 303);
    const info = await lookup(kit, token);
    if (!info) return reply.redirect(`${base(view)}/card?error=token`, 303);
    return kit.render(
      reply,
      view,
      "checkout/templates/card-confirm",
      { token, card: info },
      // Paying may redirect to the provider's 3-D Secure page: a form's redirect obeys form-action.
      { title: "card.confirm.title", policy: { formAction: [open.card.origin] } },
    );
  });

  pages.post("/checkout/:id/card/pay", form, async (request, reply) => {
    const view = await kit.load(request);
    kit.checkForm(request, view);
    if (view.session.status !== "open") return reply.redirect(kit.nextUrl(view), 303);
    const token = String((request.body as { card_token?: unknown }).card_token ?? "");
    if (!TOKEN_PATTERN.test(token)) return reply.redirect(`${base(view)}/card?error=token`, 303);
    await kit.step(view, "card_submitted", { method: "card" });
    try {
      const { payment, session } = await startPayment(
        ctx,
        view.session,
        { type: "card", token, return_url: `${ctx.publicUrl()}${base(view)}/card/complete` } as never,
        "card",
        kit.payer(request),
      );
      view.session = session;
      if (payment.status === "failed") return reply.redirect(`${base(view)}/card?error=declined`, 303);
      // A 3-D Secure step is the provider's page (form-action allows its origin for this redirect).
      return reply.redirect(kit.nextUrl(view, payment), 303);
    } catch (error) {
      if (error instanceof PaymentInFlight || error instanceof SessionClosed)
        return reply.redirect(base(view), 303);
      if (error instanceof ApiError && error.status < 500)
        return reply.redirect(`${base(view)}/card?error=token`, 303);
      throw error;
    }
  });

  // Back from the provider's 3-D Secure page: its notification settles the payment, usually at once.
  pages.get("/checkout/:id/card/complete", { schema: { hide: true } }, async (request, reply) => {
    const view = await kit.load(request);
    const deadline = Date.now() + SETTLE_WAIT_MS;
    let payment = await paymentInFlight(kit, view);
    while (
      payment &&
      (payment.status === "requires_action" || payment.status === "processing") &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 200));
      payment = (await followPayment(ctx, view.session.id, payment.id)).payment;
    }
    payment = await paymentInFlight(kit, view);
    if (view.session.status === "complete") return reply.redirect(kit.nextUrl(view), 303);
    if (!payment) {
      // Freed: the authentication was refused or the card declined.
      return reply.redirect(`${base(view)}/card?error=declined`, 303);
    }
    // Still waiting for the provider: a waiting page that does not send the payer back to it.
    return kit.render(
      reply,
      view,
      "checkout/templates/processing",
      { poll: `${base(view)}/status?returned=1` },
      { title: "checkout.processing.title", refreshSeconds: 3 },
    );
  });
}

export const cardMethod: MethodModule = {
  type: "card",
  labelKey: "checkout.method.card",
  available: () => true,
  register,
};
