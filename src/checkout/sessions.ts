import { randomBytes } from "node:crypto";
import { getCountries, parsePhoneNumberFromString } from "libphonenumber-js";
import type { Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { AMOUNT_MAX } from "../platform/money.ts";
import { findApp } from "./apps.ts";
import type { CheckoutContext, Scope } from "./context.ts";
import type { LineItem, MethodType, SessionRow } from "./model.ts";

/** Checkout sessions: what a payer is asked to pay, on a hosted page, before they expire. */

export const SESSION_LIMITS = {
  expiry_min_ms: 30 * 60_000,
  expiry_max_ms: 24 * 60 * 60_000,
  expiry_default_ms: 24 * 60 * 60_000,
  /** A request's clock and ours may differ a little: `expires_at` of exactly now+30 min passes. */
  expiry_tolerance_ms: 60_000,
  line_items_max: 20,
  quantity_max: 1000,
  url_length_max: 2048,
} as const;

const COUNTRIES = new Set<string>(getCountries());

export interface LineItemInput {
  price: string;
  quantity?: number;
}

export interface SessionInput {
  line_items?: LineItemInput[];
  amount?: number;
  currency?: string;
  description?: string;
  app?: string;
  customer?: string;
  payer?: { msisdn?: string; email?: string; country?: string };
  locale?: string;
  payment_method_types?: MethodType[];
  success_url?: string;
  cancel_url?: string;
  expires_at?: string | number;
  metadata?: Record<string, string>;
}

/** Who asks: a secret key may set any amount; a publishable key only sells catalog prices. */
export type Caller = "secret" | "publishable" | "link";

interface PriceLookup {
  id: string;
  product_id: string;
  amount: bigint;
  currency: string;
  active: boolean;
  recurring_period: string | null;
  product_name: string;
  product_active: boolean;
  parent_name: string | null;
}

/** Prices become line items: the product (or its parent and the variant), unit amount, quantity. */
export async function resolveLineItems(
  q: Queryable,
  scope: Scope,
  input: { line_items?: LineItemInput[]; amount?: number; currency?: string; description?: string },
  caller: Caller,
): Promise<{ items: LineItem[]; currency: string; total: bigint }> {
  if (input.line_items !== undefined && (input.amount !== undefined || input.currency !== undefined)) {
    throw new ApiError(
      "parameter_invalid",
      "amount",
      "Send either line_items or amount and currency, not both.",
    );
  }
  if (input.line_items === undefined) {
    if (input.amount === undefined)
      throw new ApiError("parameter_missing", "line_items", "Send line_items, or amount and currency.");
    if (input.currency === undefined) throw new ApiError("parameter_missing", "currency");
    if (caller === "publishable")
      throw new ApiError(
        "secret_key_required",
        "amount",
        "A publishable key sells catalog prices (line_items); an ad-hoc amount needs the secret key.",
      );
    const amount = input.amount;
    return {
      items: [
        {
          price: null,
          product: null,
          name: input.description ?? "Payment",
          variant: null,
          quantity: 1,
          unit_amount: amount,
          amount,
        },
      ],
      currency: input.currency,
      total: BigInt(amount),
    };
  }
  const lines = input.line_items;
  if (lines.length === 0)
    throw new ApiError("parameter_missing", "line_items", "Add at least one line item.");
  if (lines.length > SESSION_LIMITS.line_items_max)
    throw new ApiError(
      "parameter_out_of_range",
      "line_items",
      `At most ${SESSION_LIMITS.line_items_max} line items.`,
    );
  const { rows } = await q.query<PriceLookup>(
    `select p.id, p.product_id, p.amount, p.currency, p.active, p.recurring_period,
            pr.name as product_name, pr.active as product_active, parent.name as parent_name
       from prices p join products pr on pr.id = p.product_id
       left join products parent on parent.id = pr.parent_id
      where p.id = any($1::text[]) and p.merchant_id = $2 and p.mode = $3`,
    [lines.map((l) => l.price), scope.merchantId, scope.mode],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  let currency: string | undefined;
  let total = 0n;
  const items = lines.map((line, i): LineItem => {
    const param = `line_items[${i}].price`;
    const price = byId.get(line.price);
    if (!price) throw new ApiError("resource_missing", param, `No such price: '${line.price}'.`);
    if (!price.active || !price.product_active)
      throw new ApiError(
        "parameter_invalid",
        param,
        `The price '${line.price}' or its product is not active.`,
      );
    if (price.recurring_period !== null)
      throw new ApiError(
        "parameter_invalid",
        param,
        "Checkout sells one-time prices; start subscriptions with POST /v1/subscriptions.",
      );
    if (currency !== undefined && price.currency !== currency)
      throw new ApiError("currency_invalid", param, "Every line item must be in the same currency.");
    currency = price.currency;
    const quantity = line.quantity ?? 1;
    const amount = price.amount * BigInt(quantity);
    total += amount;
    return {
      price: price.id,
      product: price.product_id,
      name: price.parent_name ?? price.product_name,
      variant: price.parent_name ? price.product_name : null,
      quantity,
      unit_amount: Number(price.amount),
      amount: Number(amount),
    };
  });
  if (total > BigInt(AMOUNT_MAX))
    throw new ApiError(
      "amount_too_large",
      "line_items",
      `The line items add up to ${total} minor units; one payment takes at most ${AMOUNT_MAX}.`,
    );
  return { items, currency: currency!, total };
}

/** A timestamp from the API: ISO 8601 UTC, or Unix seconds. */
export function parseTimestamp(value: string | number, param: string): number {
  const ms =
    typeof value === "number"
      ? value * 1000
      : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)
        ? Date.parse(value)
        : Number.NaN;
  if (!Number.isFinite(ms))
    throw new ApiError("parameter_invalid", param, "Send an ISO 8601 timestamp, e.g. 2026-01-01T12:00:00Z.");
  return ms;
}

function checkRedirectUrl(
  scope: Scope,
  url: string,
  param: string,
  origins: readonly string[] | null,
): string {
  if (url.length > SESSION_LIMITS.url_length_max) throw new ApiError("parameter_too_long", param);
  let parsed: URL;
  try {
    parsed = new URL(url.replaceAll("{CHECKOUT_SESSION_ID}", "cs_placeholder"));
  } catch {
    throw new ApiError("parameter_invalid", param, "The URL is not valid.");
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:")
    throw new ApiError("parameter_invalid", param, "The URL must use http or https.");
  if (scope.mode === "live" && parsed.protocol !== "https:")
    throw new ApiError("parameter_invalid", param, "Live-mode URLs must use https.");
  if (origins && !origins.includes(parsed.origin))
    throw new ApiError(
      "parameter_invalid",
      param,
      "With a publishable key, the URL must be on one of the app's allowed_origins.",
    );
  return url;
}

function checkPayer(input: SessionInput["payer"]): SessionRow["payer"] {
  const payer: SessionRow["payer"] = {};
  if (!input) return payer;
  if (input.msisdn !== undefined) {
    const parsed = parsePhoneNumberFromString(input.msisdn);
    if (!parsed?.isValid())
      throw new ApiError("parameter_invalid", "payer.msisdn", "Send the MSISDN in E.164, e.g. +33612345678.");
    payer.msisdn = parsed.number;
    if (parsed.country) payer.country = parsed.country;
  }
  if (input.country !== undefined) {
    if (!COUNTRIES.has(input.country))
      throw new ApiError(
        "parameter_invalid",
        "payer.country",
        "Send an ISO 3166-1 alpha-2 country, e.g. FR.",
      );
    payer.country = input.country;
  }
  if (input.email !== undefined) {
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(input.email) || input.email.length > 254)
      throw new ApiError("parameter_invalid", "payer.email", "The e-mail address is not valid.");
    payer.email = input.email;
  }
  return payer;
}

export interface SessionOrigin {
  caller: Caller;
  paymentLinkId?: string;
  /** A link's session takes the link's line items as they were priced when it was made. */
  fixedItems?: { items: LineItem[]; currency: string; total: bigint };
}

export async function createSession(
  ctx: CheckoutContext,
  tx: Queryable,
  scope: Scope,
  input: SessionInput,
  origin: SessionOrigin,
): Promise<SessionRow> {
  const nowMs = ctx.clock.nowMs();
  const app = input.app === undefined ? undefined : await findApp(tx, scope, input.app);
  if (input.app !== undefined && !app)
    throw new ApiError("resource_missing", "app", `No such app: '${input.app}'.`);
  const priced = origin.fixedItems ?? (await resolveLineItems(tx, scope, input, origin.caller));
  if (input.customer !== undefined) {
    const { rowCount } = await tx.query(
      "select 1 from customers where id = $1 and merchant_id = $2 and mode = $3",
      [input.customer, scope.merchantId, scope.mode],
    );
    if (rowCount === 0)
      throw new ApiError("resource_missing", "customer", `No such customer: '${input.customer}'.`);
  }
  const available = ctx.availableMethods(scope.mode);
  const types = input.payment_method_types ?? available;
  if (types.length === 0)
    throw new ApiError("parameter_invalid", "payment_method_types", "Allow at least one method.");
  types.forEach((type, i) => {
    if (!available.includes(type))
      throw new ApiError(
        "parameter_invalid",
        `payment_method_types[${i}]`,
        `'${type}' is not available here; available: ${available.join(", ")}.`,
      );
  });
  let expiresMs = nowMs + SESSION_LIMITS.expiry_default_ms;
  if (input.expires_at !== undefined) {
    expiresMs = parseTimestamp(input.expires_at, "expires_at");
    const ahead = expiresMs - nowMs;
    if (
      ahead < SESSION_LIMITS.expiry_min_ms - SESSION_LIMITS.expiry_tolerance_ms ||
      ahead > SESSION_LIMITS.expiry_max_ms + SESSION_LIMITS.expiry_tolerance_ms
    ) {
      throw new ApiError(
        "parameter_out_of_range",
        "expires_at",
        "expires_at must be between 30 minutes and 24 hours from now.",
      );
    }
  }
  const redirectOrigins = origin.caller === "publishable" ? (app?.allowed_origins ?? []) : null;
  if (input.locale !== undefined && !/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(input.locale))
    throw new ApiError("parameter_invalid", "locale", "Send a language tag such as fr or pt-BR.");
  const id = newId("cs", nowMs);
  const row: SessionRow = {
    id,
    merchant_id: scope.merchantId,
    mode: scope.mode,
    app_id: app?.id ?? null,
    payment_link_id: origin.paymentLinkId ?? null,
    status: "open",
    amount_total: priced.total,
    currency: priced.currency,
    description: input.description ?? null,
    line_items: priced.items,
    customer_id: input.customer ?? null,
    payer: checkPayer(input.payer),
    framed: null,
    page_opened_at: null,
    locale: input.locale ?? null,
    payment_method_types: [...new Set(types)],
    success_url:
      input.success_url === undefined
        ? null
        : checkRedirectUrl(scope, input.success_url, "success_url", redirectOrigins),
    cancel_url:
      input.cancel_url === undefined
        ? null
        : checkRedirectUrl(scope, input.cancel_url, "cancel_url", redirectOrigins),
    expires_at: new Date(expiresMs),
    metadata: input.metadata ?? {},
    client_secret: `${id}_secret_${randomBytes(18).toString("base64url")}`,
    payment_id: null,
    completed_at: null,
    fulfilment_status: app?.fulfilment_url ? "pending" : null,
    codes: [],
    pin_resends: 0,
    attempts: 0,
    created: new Date(nowMs),
    updated: new Date(nowMs),
  };
  await tx.query(
    `insert into checkout_sessions (id, merchant_id, mode, app_id, payment_link_id, status, amount_total, currency,
        description, line_items, customer_id, payer, locale, payment_method_types, success_url, cancel_url, expires_at,
        metadata, client_secret, fulfilment_status, created, updated)
     values ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)`,
    [
      row.id,
      row.merchant_id,
      row.mode,
      row.app_id,
      row.payment_link_id,
      row.amount_total,
      row.currency,
      row.description,
      JSON.stringify(row.line_items),
      row.customer_id,
      JSON.stringify(row.payer),
      row.locale,
      row.payment_method_types,
      row.success_url,
      row.cancel_url,
      row.expires_at,
      JSON.stringify(row.metadata),
      row.client_secret,
      row.fulfilment_status,
      row.created,
    ],
  );
  return row;
}

export async function findSession(q: Queryable, id: string): Promise<SessionRow | undefined> {
  if (!/^cs_[0-9a-z]{26}$/.test(id)) return undefined;
  const { rows } = await q.query<SessionRow>("select * from checkout_sessions where id = $1", [id]);
  return rows[0];
}

export async function getSession(q: Queryable, scope: Scope, id: string): Promise<SessionRow> {
  const { rows } = await q.query<SessionRow>(
    "select * from checkout_sessions where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  if (!rows[0]) throw new ApiError("resource_missing", "id", `No such checkout session: '${id}'.`);
  return rows[0];
}

export async function sessionByClientSecret(q: Queryable, secret: string): Promise<SessionRow | undefined> {
  if (!/^cs_[0-9a-z]{26}_secret_[A-Za-z0-9_-]{24}$/.test(secret)) return undefined;
  const { rows } = await q.query<SessionRow>("select * from checkout_sessions where client_secret = $1", [
    secret,
  ]);
  return rows[0];
}

export function listSessions(
  q: Queryable,
  scope: Scope,
  filters: { payment_link?: string; status?: string; app?: string },
  page: ListParams,
) {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  const add = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    params.push(value);
    where.push(`${column} = $${params.length}`);
  };
  add("payment_link_id", filters.payment_link);
  add("status", filters.status);
  add("app_id", filters.app);
  return listPage<SessionRow>(q, "checkout_sessions", where, params, page);
}
