import type { FastifyInstance, FastifyReply } from "fastify";
import { appendAudit, draftFor, type RequestAudit, recordAfter, runAudited } from "../audit/index.ts";
import type { Queryable } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import { AMOUNT_MAX } from "../platform/money.ts";
import { holds } from "../staff/index.ts";
import { parseMajorAmount } from "../web/index.ts";
import type { ScreenServices } from "./context.ts";
import { adminPage, requirePagePermission, type StaffPageContext, scopeOf } from "./pages.ts";
import { periodKeyOf } from "./subscriptions.ts";

/** The periods the form offers; the API takes any ISO 8601 duration. */
export const FORM_PERIODS = ["P1D", "P1W", "P1M", "P3M", "P1Y"] as const;
const TRIAL_DAYS_MAX = 730;

type Scope = ReturnType<typeof scopeOf>;
type Form = Record<string, string>;
/** A field's error: a message key of ours, or the service's own words when it has no key. */
type FieldErrors = Record<string, { key: string } | { text: string }>;

/** The form's fields, named as the page's inputs (`price-amount`), and the API field each fills. */
const FIELD_OF_PARAM: Record<string, string> = {
  name: "product-name",
  description: "product-description",
  parent: "product-parent",
  product: "price-product",
  amount: "price-amount",
  currency: "price-currency",
  country: "price-country",
  "recurring.period": "price-period",
  trial_days: "price-trial",
};

const text = (value: unknown, max: number) => (typeof value === "string" ? value.trim().slice(0, max) : "");

function productInput(body: Form) {
  const errors: FieldErrors = {};
  const name = text(body["product-name"], 200);
  const description = text(body["product-description"], 500);
  const parent = text(body["product-parent"], 80);
  if (name === "") errors["product-name"] = { key: "catalog.error_name" };
  return {
    errors,
    input: { name, ...(description ? { description } : {}), ...(parent ? { parent } : {}) },
  };
}

/**
 * The amount as people write it in the price's currency ("1.99", "1,99", "500" JPY; an inner
 * currency with its own digits), turned into minor units for the catalog: positive, bounded. The
 * form took minor units, unlike the refund and voucher forms, so "4.99" was refused and "5" made
 * a price of 0.05 EUR.
 */
function priceInput(body: Form, digits: number | null) {
  const errors: FieldErrors = {};
  const product = text(body["price-product"], 80);
  const amountText = text(body["price-amount"], 20);
  const currency = text(body["price-currency"], 8).toUpperCase();
  const country = text(body["price-country"], 2).toUpperCase();
  const period = text(body["price-period"], 10);
  const trialText = text(body["price-trial"], 4);
  if (product === "") errors["price-product"] = { key: "catalog.error_product" };
  // `digits` is null for a code that is neither ISO 4217 nor one of the merchant's currencies.
  if (digits === null) errors["price-currency"] = { key: "catalog.error_currency" };
  const minor = digits === null ? null : parseMajorAmount(amountText, currency, digits);
  const amount = minor !== null && minor >= 1n && minor <= BigInt(AMOUNT_MAX) ? Number(minor) : Number.NaN;
  if (Number.isNaN(amount) && (digits !== null || amountText === ""))
    errors["price-amount"] = { key: "catalog.error_amount" };
  if (country !== "" && !/^[A-Z]{2}$/.test(country))
    errors["price-country"] = { key: "catalog.error_country" };
  if (period !== "" && !(FORM_PERIODS as readonly string[]).includes(period))
    errors["price-period"] = { key: "catalog.error_period" };
  const trial = trialText === "" ? 0 : /^\d{1,3}$/.test(trialText) ? Number(trialText) : -1;
  if (trial < 0 || trial > TRIAL_DAYS_MAX) errors["price-trial"] = { key: "catalog.error_trial" };
  return {
    errors,
    input: {
      product,
      amount,
      currency,
      ...(country ? { country } : {}),
      ...(period ? { recurring: { period } } : {}),
      ...(trial > 0 ? { trial_days: trial } : {}),
    },
  };
}

/** Products with their variants under them, and each one's prices. */
async function catalogView(deps: ScreenServices, scope: Scope) {
  const products = (await deps.billing.catalog.listProducts(scope, {}, { limit: 100 })).rows;
  const prices = (await deps.billing.catalog.listPrices(scope, {}, { limit: 100 })).rows.map((p) => ({
    ...p,
    periodKey: p.recurring ? periodKeyOf(p.recurring.period) : null,
  }));
  const pricesOf = (id: string) => prices.filter((p) => p.product === id);
  const withPrices = (p: (typeof products)[number]) => ({ ...p, prices: pricesOf(p.id) });
  return products
    .filter((p) => p.parent === null)
    .map((p) => ({
      ...withPrices(p),
      variants: products.filter((v) => v.parent === p.id).map(withPrices),
    }));
}

async function renderCatalog(
  reply: FastifyReply,
  deps: ScreenServices,
  context: StaffPageContext,
  form: { values: Form; errors: FieldErrors; which: "product" | "price" | null },
  status = 200,
) {
  const scope = scopeOf(context);
  const products = await catalogView(deps, scope);
  const done = (reply.request.query as { done?: string }).done;
  return adminPage(
    reply,
    "backoffice/templates/catalog",
    {
      products,
      choices: products.flatMap((p) => [
        { id: p.id, name: p.name, variant: false },
        ...p.variants.map((v) => ({ id: v.id, name: `${p.name} · ${v.name}`, variant: true })),
      ]),
      periods: FORM_PERIODS,
      canWrite: holds(context.access, "catalog:write"),
      values: form.values,
      errors: form.errors,
      which: form.which,
      notice: done === "product" || done === "price" ? done : null,
    },
    { title: "catalog.title", status },
  );
}

/**
 * Creates through the catalog service the API uses, in one transaction with its audit record. A
 * refusal (bad input, the service's own checks) shows the form again with the error beside its
 * field, and is recorded as refused.
 */
async function create(
  reply: FastifyReply,
  deps: ScreenServices,
  context: StaffPageContext,
  which: "product" | "price",
  parsed: { errors: FieldErrors; input: object },
  write: (tx: Queryable, scope: Scope) => Promise<{ id: string }>,
) {
  const scope = scopeOf(context);
  const body = reply.request.body as Form;
  const audit: RequestAudit = {
    ...context.audit,
    action: which === "product" ? "products.create" : "prices.create",
    changes: parsed.input,
  };
  let errors = parsed.errors;
  if (Object.keys(errors).length === 0) {
    try {
      await runAudited(audit, () =>
        deps.db.transaction(async (tx) => {
          const created = await write(tx, scope);
          await appendAudit(tx, [
            draftFor(audit, { statusCode: 201, object: created.id }, deps.clock.nowMs()),
          ]);
        }),
      );
      audit.recorded = true;
      return reply.redirect(`/admin/catalog?done=${which}`, 303);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500) throw error;
      const field = FIELD_OF_PARAM[error.param ?? ""] ?? `${which}-form`;
      errors = { [field]: { text: error.message } };
    }
  }
  await recordAfter(deps.db, audit, { statusCode: 400 }, deps.clock.nowMs());
  return renderCatalog(reply, deps, context, { values: body, errors, which }, 400);
}

/** `/admin/catalog`: products, variants and prices; a product and a price created with a form. */
export function registerCatalogPages(pages: FastifyInstance, deps: ScreenServices): void {
  pages.get("/admin/catalog", { schema: { hide: true } }, async (request, reply) => {
    const context = requirePagePermission(request, "catalog:read");
    return renderCatalog(reply, deps, context, { values: {}, errors: {}, which: null });
  });

  pages.post("/admin/catalog/products", { schema: { hide: true } }, async (request, reply) => {
    const context = requirePagePermission(request, "catalog:write");
    const parsed = productInput(request.body as Form);
    return create(reply, deps, context, "product", parsed, (tx, scope) =>
      deps.billing.catalog.createProduct(tx, scope, parsed.input),
    );
  });

  pages.post("/admin/catalog/prices", { schema: { hide: true } }, async (request, reply) => {
    const context = requirePagePermission(request, "catalog:write");
    const body = request.body as Form;
    const currency = text(body["price-currency"], 8).toUpperCase();
    const digits = await deps.community.currencies.digits(deps.db, scopeOf(context), currency);
    const parsed = priceInput(body, digits);
    return create(reply, deps, context, "price", parsed, (tx, scope) =>
      deps.billing.catalog.createPrice(tx, scope, parsed.input),
    );
  });
}
