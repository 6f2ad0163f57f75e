import { fromDecimal } from "../connectors/index.ts";
import { type Route, reply, type SimContext } from "./context.ts";
import { render } from "./oneapi.ts";

/**
 * An operator's own consent page (declared per operator as `consent: {type: "operator_page", url}`):
 * the payer sees what they are asked to pay and agrees or refuses; on agreement the operator
 * charges under the merchant's `clientCorrelator` and posts the result to its `callbackURL`.
 */

const FIELDS = [
  "endUserId",
  "amount",
  "currency",
  "description",
  "clientCorrelator",
  "referenceCode",
  "callbackURL",
  "returnURL",
];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

function decide(ctx: SimContext, op: string, form: URLSearchParams): string {
  const currency = form.get("currency") ?? "";
  const amount = fromDecimal(form.get("amount"), currency);
  const key = form.get("clientCorrelator") ?? "";
  const msisdn = decodeURIComponent(form.get("endUserId") ?? "").replace(/^tel:/, "");
  if (amount === undefined || amount <= 0n || !key || !/^\+\d{6,15}$/.test(msisdn))
    return "This request is not valid.";
  if (form.get("decision") !== "approve") return "You refused this payment. Nothing was charged.";
  const r = ctx.net.charge({
    scope: `${op}/oneapi`,
    key,
    operator: op,
    protocol: "oneapi",
    msisdn,
    amount,
    currency,
    description: form.get("description") ?? "",
    extra: { referenceCode: form.get("referenceCode") ?? key },
  });
  const callback = form.get("callbackURL");
  if (callback && r.kind !== "transient") ctx.notify(callback, render(ctx, op, r.txn));
  if (r.kind === "applied" || r.kind === "replay") return "Thank you: the payment is approved.";
  return "The payment could not be made.";
}

export const consentPageRoutes: Route[] = [
  {
    method: "GET",
    pattern: /^\/(\d{5,6})\/consent$/,
    handle(_ctx, _req, res, _p, _b, url) {
      const hidden = FIELDS.map(
        (f) => `<input type="hidden" name="${f}" value="${escapeHtml(url.searchParams.get(f) ?? "")}">`,
      ).join("");
      const what = `${url.searchParams.get("amount") ?? "?"} ${url.searchParams.get("currency") ?? ""}`;
      reply(
        res,
        200,
        page(
          "Confirm your payment",
          `<p>${escapeHtml(url.searchParams.get("description") ?? "")}: <strong>${escapeHtml(what)}</strong>, charged to ${escapeHtml(url.searchParams.get("endUserId") ?? "")}.</p>` +
            `<form method="post">${hidden}<button name="decision" value="approve">Pay</button> <button name="decision" value="refuse">Refuse</button></form>`,
        ),
        "text/html; charset=utf-8",
      );
    },
  },
  {
    method: "POST",
    pattern: /^\/(\d{5,6})\/consent$/,
    handle(ctx, _req, res, [op = ""], body) {
      const form = new URLSearchParams(body);
      const message = decide(ctx, op, form);
      const back = form.get("returnURL");
      if (back && /^https?:\/\//.test(back)) return reply(res, 303, "", "text/plain", { location: back });
      reply(res, 200, page("Payment", `<p>${escapeHtml(message)}</p>`), "text/html; charset=utf-8");
    },
  },
];
