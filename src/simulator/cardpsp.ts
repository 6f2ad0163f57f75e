import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { signatureHeader, verifySignature } from "../connectors/index.ts";
import { type Route, reply, type SimContext } from "./context.ts";
import type { DeclineReason, Txn } from "./network.ts";

/**
 * A card PSP sandbox: HMAC-signed REST (`x-signature: t=…,v1=…` over the raw body, both ways),
 * signed asynchronous notifications, and a redirect `next_action` for a 3-D Secure-like step.
 * Card numbers behave by their last four digits like MSISDNs; `…0007` asks for the redirect.
 * The card PSP has no country: it charges in whatever currency it is asked (simulated "XX" operator).
 *
 * Its tokenization form (`POST /cardpsp/tokenize`) is where a payer's browser posts the card
 * straight from a merchant's payment page: the PSP keeps the card, answers a token and sends the
 * browser back to the page's `return_url`, so the card number never crosses the merchant's
 * servers. Payments then name the token (`card: {token}`).
 */

interface StoredCard {
  number: string;
  exp_month: number;
  exp_year: number;
  brand: string;
  created_ms: number;
}

/** Tokens live as long as the simulator (one store per simulator instance). */
const TOKENS = new WeakMap<SimContext, Map<string, StoredCard>>();
const TOKEN_TTL_MS = 60 * 60_000;

function tokens(ctx: SimContext): Map<string, StoredCard> {
  let store = TOKENS.get(ctx);
  if (!store) {
    store = new Map();
    TOKENS.set(ctx, store);
  }
  return store;
}

function cardOfToken(ctx: SimContext, token: unknown): StoredCard | undefined {
  if (typeof token !== "string") return undefined;
  const card = tokens(ctx).get(token);
  return card && Date.now() - card.created_ms < TOKEN_TTL_MS ? card : undefined;
}

function brandOf(number: string): string {
  if (number.startsWith("4")) return "visa";
  if (/^(5[1-5]|2[2-7])/.test(number)) return "mastercard";
  if (/^3[47]/.test(number)) return "amex";
  return "unknown";
}

function luhn(number: string): boolean {
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let digit = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** Only http(s) return addresses: the form must not become an open redirect to anything else. */
function returnTarget(value: string | null): URL | null {
  if (!value || value.length > 2048) return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url : null;
  } catch {
    return null;
  }
}

function redirect(res: ServerResponse, location: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(303, { location, "content-length": 0, "cache-control": "no-store" });
  res.end();
}

export const PSP_OPERATOR = "cardpsp";

const CARD_DECLINES: Record<DeclineReason, { http: number; code: string }> = {
  insufficient_funds: { http: 402, code: "insufficient_funds" },
  barred: { http: 402, code: "card_blocked" },
  limit_transaction: { http: 402, code: "amount_too_large" },
  limit_month: { http: 402, code: "card_velocity_exceeded" },
  invalid_currency: { http: 400, code: "currency_not_supported" },
  transient: { http: 503, code: "processor_unavailable" },
};

function signed(ctx: SimContext, res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  reply(res, status, body, "application/json", {
    "x-signature": signatureHeader(ctx.config.psp_secret, body),
  });
}

function view(ctx: SimContext, txn: Txn): Record<string, unknown> {
  const status =
    txn.extra.state ??
    (txn.status === "charged"
      ? "succeeded"
      : txn.status === "refunded"
        ? "refunded"
        : txn.status === "declined"
          ? "failed"
          : "processing");
  const out: Record<string, unknown> = {
    id: txn.id,
    object: txn.kind === "refund" ? "refund" : "payment",
    reference: txn.key,
    amount: Number(txn.amount),
    currency: txn.currency,
    status,
  };
  if (txn.reason) out.failure_code = txn.extra.failure ?? CARD_DECLINES[txn.reason].code;
  if (status === "requires_action")
    out.next_action = { type: "redirect", url: `${ctx.httpUrl()}/cardpsp/3ds/${txn.id}` };
  return out;
}

function notify(ctx: SimContext, txn: Txn): void {
  const url = txn.extra.notify_url;
  if (!url) return;
  const body = JSON.stringify({ type: "payment.updated", data: view(ctx, txn) });
  ctx.notify(url, body, { "x-signature": signatureHeader(ctx.config.psp_secret, body) });
}

interface PaymentBody {
  reference?: unknown;
  amount?: unknown;
  currency?: unknown;
  description?: unknown;
  card?: { number?: unknown; token?: unknown };
  notify_url?: unknown;
  return_url?: unknown;
  payment_id?: unknown;
}

function parseAmount(v: unknown): bigint | undefined {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? BigInt(v) : undefined;
}

export const cardpspRoutes: Route[] = [
  {
    method: "POST",
    pattern: /^\/cardpsp\/v1\/(payments|refunds)$/,
    async handle(ctx, req, res, [what = ""], body) {
      const sig = verifySignature(
        ctx.config.psp_secret,
        req.headers["x-signature"] as string | undefined,
        body,
      );
      if (sig !== "valid") return signed(ctx, res, 401, { error: { code: `signature_${sig}` } });
      const b = JSON.parse(body) as PaymentBody;
      const amount = parseAmount(b.amount);
      const currency = typeof b.currency === "string" ? b.currency : "";
      const reference = typeof b.reference === "string" ? b.reference : "";
      if (amount === undefined || !/^[A-Z]{3}$/.test(currency) || !reference)
        return signed(ctx, res, 400, { error: { code: "parameter_invalid" } });
      await ctx.latency();
      const scope = "cardpsp";
      if (what === "refunds") {
        const r = ctx.net.refund({
          scope,
          key: reference,
          original_id: typeof b.payment_id === "string" ? b.payment_id : undefined,
          amount,
          currency,
        });
        if (r.kind === "invalid") return signed(ctx, res, 400, { error: { code: "refund_invalid" } });
        if (r.kind === "transient")
          return signed(ctx, res, 503, { error: { code: "processor_unavailable" } });
        return signed(ctx, res, r.kind === "replay" ? 200 : 201, view(ctx, r.txn));
      }
      const fromToken = b.card?.token === undefined ? undefined : cardOfToken(ctx, b.card.token);
      if (b.card?.token !== undefined && !fromToken)
        return signed(ctx, res, 400, { error: { code: "token_invalid" } });
      const number = fromToken?.number ?? (typeof b.card?.number === "string" ? b.card.number : "");
      if (!/^\d{12,19}$/.test(number))
        return signed(ctx, res, 400, { error: { code: "card_number_invalid" } });
      const existing = ctx.net.txnByKey(scope, reference);
      // A repeated reference answers the original payment (the PSP's idempotency).
      if (existing) return signed(ctx, res, 200, view(ctx, existing));
      const needs3ds = number.endsWith("0007");
      const r = ctx.net.chargeCard({
        key: reference,
        card: number,
        amount,
        currency,
        description: typeof b.description === "string" ? b.description : "",
      });
      if (r.kind === "transient") return signed(ctx, res, 503, { error: { code: "processor_unavailable" } });
      if (r.kind === "replay") return signed(ctx, res, 200, view(ctx, r.txn));
      const txn = r.txn;
      if (typeof b.notify_url === "string") txn.extra.notify_url = b.notify_url;
      if (typeof b.return_url === "string" && returnTarget(b.return_url)) txn.extra.return_url = b.return_url;
      if (r.kind === "declined") {
        const d = CARD_DECLINES[r.reason];
        return signed(ctx, res, d.http, { ...view(ctx, txn), error: { code: d.code } });
      }
      if (txn.behaviour === "hang") return ctx.hold(res);
      if (needs3ds) {
        txn.extra.state = "requires_action";
        return signed(ctx, res, 201, view(ctx, txn));
      }
      if (txn.behaviour === "callback") {
        txn.extra.state = "processing";
        ctx.later(() => {
          delete txn.extra.state;
          notify(ctx, txn);
        }, ctx.config.callback_delay_ms);
      }
      return signed(ctx, res, 201, view(ctx, txn));
    },
  },
  {
    // A void: a payment awaiting its 3-D Secure step, or charged but not yet settled (nothing
    // refunded), is canceled and its money given back; canceling again answers the same.
    method: "POST",
    pattern: /^\/cardpsp\/v1\/payments\/cancel$/,
    async handle(ctx, req, res, _p, body) {
      const sig = verifySignature(
        ctx.config.psp_secret,
        req.headers["x-signature"] as string | undefined,
        body,
      );
      if (sig !== "valid") return signed(ctx, res, 401, { error: { code: `signature_${sig}` } });
      const b = JSON.parse(body) as PaymentBody;
      const txn = ctx.net.txnByKey("cardpsp", typeof b.reference === "string" ? b.reference : "");
      if (txn?.kind !== "charge") return signed(ctx, res, 404, { error: { code: "resource_missing" } });
      await ctx.latency();
      if (txn.status === "charged" && txn.used > 0n)
        return signed(ctx, res, 409, { ...view(ctx, txn), error: { code: "payment_refunded" } });
      if (txn.status === "charged") ctx.net.voidCard(txn, "canceled");
      if (txn.extra.failure === "canceled" || txn.extra.state !== undefined) txn.extra.state = "canceled";
      return signed(ctx, res, 200, view(ctx, txn));
    },
  },
  {
    method: "GET",
    pattern: /^\/cardpsp\/v1\/payments$/,
    handle(ctx, req, res, _p, _b, url) {
      const sig = verifySignature(
        ctx.config.psp_secret,
        req.headers["x-signature"] as string | undefined,
        url.search,
      );
      if (sig !== "valid") return signed(ctx, res, 401, { error: { code: `signature_${sig}` } });
      const txn = ctx.net.txnByKey("cardpsp", url.searchParams.get("reference") ?? "");
      if (!txn) return signed(ctx, res, 404, { error: { code: "resource_missing" } });
      return signed(ctx, res, 200, view(ctx, txn));
    },
  },
  {
    // The 3-D Secure-like page: `?result=approve|deny` completes it and sends the notification.
    method: "GET",
    pattern: /^\/cardpsp\/3ds\/([^/]+)$/,
    handle(ctx, _req, res, [id = ""], _b, url) {
      const txn = ctx.net.txnById(id);
      // Answered already (a reload, the back button): the payer goes back to the merchant.
      if (txn && txn.extra.state !== "requires_action" && txn.extra.return_url)
        return redirect(res, txn.extra.return_url);
      if (txn?.extra.state !== "requires_action")
        return reply(res, 404, "<p>No pending authentication</p>", "text/html");
      const result = url.searchParams.get("result");
      if (result !== "approve" && result !== "deny") {
        return reply(
          res,
          200,
          `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Card authentication</title></head><body><main><h1>Card authentication (simulator)</h1><form><p>Approve ${txn.amount} ${txn.currency}?</p><button name="result" value="approve">Approve</button> <button name="result" value="deny">Deny</button></form></main></body></html>`,
          "text/html",
        );
      }
      delete txn.extra.state;
      if (result === "deny") ctx.net.voidCard(txn);
      notify(ctx, txn);
      if (txn.extra.return_url) return redirect(res, txn.extra.return_url);
      return reply(
        res,
        200,
        `<p>Authentication ${result === "approve" ? "approved" : "denied"}</p>`,
        "text/html",
      );
    },
  },
  {
    // The tokenization form: the payer's browser posts the card here, from the merchant's page.
    method: "POST",
    pattern: /^\/cardpsp\/tokenize$/,
    handle(ctx, _req, res, _p, body) {
      const form = new URLSearchParams(body);
      const back = returnTarget(form.get("return_url"));
      if (!back)
        return reply(res, 400, "<p>return_url is missing or not an http(s) address</p>", "text/html");
      const answer = (params: Record<string, string>) => {
        for (const [k, v] of Object.entries(params)) back.searchParams.set(k, v);
        return redirect(res, back.toString());
      };
      const number = (form.get("number") ?? "").replace(/[\s-]/g, "");
      const month = Number(form.get("exp_month"));
      let year = Number(form.get("exp_year"));
      if (year >= 0 && year < 100) year += 2000;
      const cvc = form.get("cvc") ?? "";
      if (!/^\d{12,19}$/.test(number) || !luhn(number)) return answer({ error: "number_invalid" });
      const now = new Date();
      if (
        !Number.isInteger(month) ||
        month < 1 ||
        month > 12 ||
        !Number.isInteger(year) ||
        year > now.getUTCFullYear() + 30 ||
        year < now.getUTCFullYear() ||
        (year === now.getUTCFullYear() && month < now.getUTCMonth() + 1)
      )
        return answer({ error: "expiry_invalid" });
      if (!/^\d{3,4}$/.test(cvc)) return answer({ error: "cvc_invalid" });
      const token = `tok_${randomBytes(18).toString("base64url")}`;
      // The CVC is checked and dropped, as a PSP may not keep it after authorisation.
      tokens(ctx).set(token, {
        number,
        exp_month: month,
        exp_year: year,
        brand: brandOf(number),
        created_ms: Date.now(),
      });
      return answer({ token });
    },
  },
  {
    // What a token stands for, without the number (signed like every API call).
    method: "GET",
    pattern: /^\/cardpsp\/v1\/tokens$/,
    handle(ctx, req, res, _p, _b, url) {
      const sig = verifySignature(
        ctx.config.psp_secret,
        req.headers["x-signature"] as string | undefined,
        url.search,
      );
      if (sig !== "valid") return signed(ctx, res, 401, { error: { code: `signature_${sig}` } });
      const id = url.searchParams.get("token") ?? "";
      const card = cardOfToken(ctx, id);
      if (!card) return signed(ctx, res, 404, { error: { code: "resource_missing" } });
      return signed(ctx, res, 200, {
        id,
        object: "token",
        card: {
          brand: card.brand,
          last4: card.number.slice(-4),
          exp_month: card.exp_month,
          exp_year: card.exp_year,
        },
      });
    },
  },
];
