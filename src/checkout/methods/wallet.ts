import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../../platform/errors.ts";
import { PaymentInFlight, SessionClosed, startPayment } from "../attempts.ts";
import type { SessionRow } from "../model.ts";
import { type PageKit, paymentInFlight, type SessionView } from "../page-kit.ts";
import type { MethodModule } from "./registry.ts";

/**
 * The customer's wallet on the hosted page (and the voucher method's way to pay once a code has
 * filled it): the balance in the session's currency, then one button. The wallet provider draws
 * on the grants in the payment's own transaction and refuses the whole payment when short.
 */

export const WALLET_ERRORS: Record<string, string> = {
  insufficient: "wallet.short",
  failed: "wallet.failed",
};

/** Sessions made for a known customer, in a process that has wallets. */
export function walletOffered(session: SessionRow, kit: PageKit): boolean {
  return session.customer_id !== null && kit.ctx.wallets !== undefined;
}

export async function walletBalance(kit: PageKit, view: SessionView): Promise<bigint> {
  const { session } = view;
  if (!session.customer_id || !kit.ctx.wallets) return 0n;
  return kit.ctx.wallets.balance(
    { merchantId: session.merchant_id, mode: session.mode },
    session.customer_id,
    session.currency,
    kit.ctx.clock.nowMs(),
  );
}

/** Pays the session from the wallet; answers where the payer goes next. */
export async function payFromWallet(
  kit: PageKit,
  request: FastifyRequest,
  view: SessionView,
  method: "wallet" | "voucher",
  errorBase: string,
): Promise<string> {
  try {
    const { payment, session } = await startPayment(
      kit.ctx,
      view.session,
      { type: "wallet" } as never,
      method,
      kit.payer(request),
    );
    view.session = session;
    if (payment.status === "failed") return `${errorBase}?error=failed`;
    return kit.nextUrl(view, payment);
  } catch (error) {
    if (error instanceof PaymentInFlight || error instanceof SessionClosed)
      return `/checkout/${view.session.id}`;
    if (error instanceof ApiError && error.code === "insufficient_funds")
      return `${errorBase}?error=insufficient`;
    if (error instanceof ApiError && error.status < 500) return `${errorBase}?error=failed`;
    throw error;
  }
}

function register(pages: FastifyInstance, kit: PageKit): void {
  const form = { config: { csrf: false }, schema: { hide: true } } as const;
  const base = (view: SessionView) => `/checkout/${view.session.id}`;

  async function openForWallet(request: FastifyRequest, reply: FastifyReply) {
    const view = await kit.load(request);
    const payment = await paymentInFlight(kit, view);
    if (view.session.status !== "open" || payment) {
      await reply.redirect(kit.nextUrl(view, payment), 303);
      return null;
    }
    if (!view.session.payment_method_types.includes("wallet") || !walletOffered(view.session, kit)) {
      await reply.redirect(base(view), 303);
      return null;
    }
    return view;
  }

  pages.get("/checkout/:id/wallet", { schema: { hide: true } }, async (request, reply) => {
    const view = await openForWallet(request, reply);
    if (!view) return reply;
    const { error } = request.query as { error?: string };
    if (!error) await kit.step(view, "method_chosen", { method: "wallet" });
    const balance = await walletBalance(kit, view);
    const short = balance < view.session.amount_total;
    const key = error && WALLET_ERRORS[error] ? WALLET_ERRORS[error] : short ? "wallet.short" : null;
    return kit.render(
      reply,
      view,
      "checkout/templates/wallet",
      { balance, short, error: key },
      { title: "checkout.method.wallet", status: error ? 402 : 200 },
    );
  });

  pages.post("/checkout/:id/wallet/pay", form, async (request, reply) => {
    const view = await kit.load(request);
    kit.checkForm(request, view);
    if (view.session.status !== "open") return reply.redirect(kit.nextUrl(view), 303);
    return reply.redirect(await payFromWallet(kit, request, view, "wallet", `${base(view)}/wallet`), 303);
  });
}

export const walletMethod: MethodModule = {
  type: "wallet",
  labelKey: "checkout.method.wallet",
  available: () => true,
  offered: walletOffered,
  register,
};
