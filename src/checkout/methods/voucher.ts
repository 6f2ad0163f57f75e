import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../../platform/errors.ts";
import { type PageKit, paymentInFlight, type SessionView } from "../page-kit.ts";
import type { MethodModule } from "./registry.ts";
import { payFromWallet, walletBalance, walletOffered } from "./wallet.ts";

/**
 * A voucher code on the hosted page: the code is redeemed for the session's customer (its value
 * goes to their wallet, exactly once, through the vouchers' own two-phase redemption), then the
 * session is paid from the wallet. A code worth less than the total stays credited in the wallet;
 * the payer is told and chooses another way. Every bad code gets one message; the vouchers'
 * throttle (per customer and address) answers 429.
 */

const ERRORS: Record<string, string> = {
  invalid: "voucher.invalid",
  short: "voucher.short",
  not_money: "voucher.not_money",
  insufficient: "voucher.short",
  failed: "wallet.failed",
};

/** The code form; after a refused code, with the code as the payer typed it. */
async function renderForm(
  kit: PageKit,
  reply: FastifyReply,
  view: SessionView,
  error: string | null,
  value: string,
) {
  return kit.render(
    reply,
    view,
    "checkout/templates/voucher",
    { error, value, balance: error === "voucher.short" ? await walletBalance(kit, view) : null },
    { title: "checkout.method.voucher", status: error ? 400 : 200 },
  );
}

function register(pages: FastifyInstance, kit: PageKit): void {
  const form = { config: { csrf: false }, schema: { hide: true } } as const;
  const base = (view: SessionView) => `/checkout/${view.session.id}`;

  async function openForVouchers(request: FastifyRequest, reply: FastifyReply) {
    const view = await kit.load(request);
    const payment = await paymentInFlight(kit, view);
    if (view.session.status !== "open" || payment) {
      await reply.redirect(kit.nextUrl(view, payment), 303);
      return null;
    }
    if (!view.session.payment_method_types.includes("voucher") || !walletOffered(view.session, kit)) {
      await reply.redirect(base(view), 303);
      return null;
    }
    return view;
  }

  pages.get("/checkout/:id/voucher", { schema: { hide: true } }, async (request, reply) => {
    const view = await openForVouchers(request, reply);
    if (!view) return reply;
    const { error } = request.query as { error?: string };
    if (!error) await kit.step(view, "method_chosen", { method: "voucher" });
    const key = error && ERRORS[error] ? ERRORS[error] : null;
    return renderForm(kit, reply, view, key, "");
  });

  pages.post("/checkout/:id/voucher/redeem", form, async (request, reply) => {
    const view = await openForVouchers(request, reply);
    if (!view) return reply;
    kit.checkForm(request, view);
    const code = String((request.body as { code?: unknown }).code ?? "").trim();
    const wallets = kit.ctx.wallets;
    const customer = view.session.customer_id;
    if (!wallets || !customer) return reply.redirect(base(view), 303);
    // A refused code comes back in the field as typed, to correct one character, not retype all.
    if (code.length === 0 || code.length > 64) return renderForm(kit, reply, view, ERRORS.invalid!, code);
    const scope = { merchantId: view.session.merchant_id, mode: view.session.mode };
    let granted: { amount?: number; currency?: string; entitlement?: string };
    try {
      granted = await wallets.redeem(scope, code, customer, kit.clientIp(request), kit.ctx.clock.nowMs());
    } catch (error) {
      if (error instanceof ApiError && error.status === 429) {
        reply.header("retry-after", "900");
        return kit.render(
          reply,
          view,
          "checkout/templates/throttled",
          { minutes: 15 },
          { title: "checkout.throttled.title", status: 429 },
        );
      }
      if (error instanceof ApiError && error.status < 500)
        return renderForm(kit, reply, view, ERRORS.invalid!, code);
      throw error;
    }
    if (granted.currency !== view.session.currency)
      return reply.redirect(`${base(view)}/voucher?error=not_money`, 303);
    if ((await walletBalance(kit, view)) < view.session.amount_total)
      return reply.redirect(`${base(view)}/voucher?error=short`, 303);
    return reply.redirect(await payFromWallet(kit, request, view, "voucher", `${base(view)}/voucher`), 303);
  });
}

export const voucherMethod: MethodModule = {
  type: "voucher",
  labelKey: "checkout.method.voucher",
  available: () => true,
  offered: walletOffered,
  register,
};
