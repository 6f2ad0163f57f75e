import type { Mode } from "../platform/scope.ts";

/** Checkout's rows and their public shapes (api.md, "Checkout"). */

export const METHOD_TYPES = ["carrier", "card", "wallet", "voucher"] as const;
export type MethodType = (typeof METHOD_TYPES)[number];

export type SessionStatus = "open" | "complete" | "expired";
export type FulfilmentStatus = "pending" | "delivered" | "failed";

/** What the payer buys: a catalog price (a product or one of its variants) or an ad-hoc amount. */
export interface LineItem {
  price: string | null;
  product: string | null;
  /** The product's name, or its parent's when the product is a variant. */
  name: string;
  /** The variant's name when the product is one. */
  variant: string | null;
  quantity: number;
  unit_amount: number;
  amount: number;
}

export interface AppRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  name: string;
  allowed_origins: string[];
  fulfilment_url: string | null;
  fulfilment_secret: string;
  metadata: Record<string, string>;
  created: Date;
  updated: Date;
}

export interface SessionRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  app_id: string | null;
  payment_link_id: string | null;
  status: SessionStatus;
  amount_total: bigint;
  currency: string;
  description: string | null;
  line_items: LineItem[];
  customer_id: string | null;
  payer: { msisdn?: string; email?: string; country?: string };
  locale: string | null;
  payment_method_types: MethodType[];
  success_url: string | null;
  cancel_url: string | null;
  expires_at: Date;
  metadata: Record<string, string>;
  client_secret: string;
  payment_id: string | null;
  completed_at: Date | null;
  fulfilment_status: FulfilmentStatus | null;
  codes: { product: string; code: string }[];
  pin_resends: number;
  attempts: number;
  /** Whether the page reported being framed (null: not opened yet); docs/risk.md. */
  framed: boolean | null;
  /** When the payer first opened the page. */
  page_opened_at: Date | null;
  created: Date;
  updated: Date;
}

export type AfterCompletion =
  | { type: "hosted_confirmation"; message?: string }
  | { type: "redirect"; url: string };

export interface LinkRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  app_id: string | null;
  line_items: LineItem[];
  amount_total: bigint;
  currency: string;
  description: string | null;
  expires_at: Date | null;
  max_uses: number | null;
  uses: number;
  active: boolean;
  after_completion: AfterCompletion;
  metadata: Record<string, string>;
  created: Date;
  updated: Date;
}

/** The journey's steps, as the funnel reads them (docs/checkout.md). */
export const STEPS = [
  "page_opened",
  "method_chosen",
  "msisdn_entered",
  "pin_sent",
  "pin_accepted",
  "pin_rejected",
  "mo_instructions_shown",
  "card_submitted",
  "charged",
  "declined",
  "abandoned",
] as const;
export type Step = (typeof STEPS)[number];

export interface StepRow {
  id: string;
  session_id: string;
  step: Step;
  method: string | null;
  operator: string | null;
  country: string | null;
  created: Date;
}

const iso = (d: Date | string) => new Date(d).toISOString();

export function presentApp(app: AppRow, options: { withSecret?: boolean } = {}) {
  return {
    id: app.id,
    object: "app" as const,
    created: iso(app.created),
    livemode: app.mode === "live",
    name: app.name,
    allowed_origins: app.allowed_origins,
    fulfilment_url: app.fulfilment_url,
    ...(options.withSecret ? { fulfilment_secret: app.fulfilment_secret } : {}),
    metadata: app.metadata,
  };
}

export function presentLineItem(item: LineItem) {
  return {
    price: item.price,
    product: item.product,
    description: item.variant ? `${item.name} · ${item.variant}` : item.name,
    quantity: item.quantity,
    unit_amount: item.unit_amount,
    amount_total: item.amount,
  };
}

export function presentSession(s: SessionRow, url: string, steps?: StepRow[]) {
  return {
    id: s.id,
    object: "checkout_session" as const,
    created: iso(s.created),
    livemode: s.mode === "live",
    status: s.status,
    url,
    client_secret: s.client_secret,
    amount_total: Number(s.amount_total),
    currency: s.currency,
    description: s.description,
    line_items: s.line_items.map(presentLineItem),
    app: s.app_id,
    payment_link: s.payment_link_id,
    customer: s.customer_id,
    payer: s.payer,
    locale: s.locale,
    payment_method_types: s.payment_method_types,
    success_url: s.success_url,
    cancel_url: s.cancel_url,
    expires_at: iso(s.expires_at),
    completed_at: s.completed_at ? iso(s.completed_at) : null,
    payment: s.status === "complete" ? s.payment_id : null,
    fulfilment_status: s.fulfilment_status,
    codes: s.codes,
    metadata: s.metadata,
    ...(steps
      ? {
          steps: steps.map((step) => ({
            step: step.step,
            method: step.method,
            operator: step.operator,
            country: step.country,
            created: iso(step.created),
          })),
        }
      : {}),
  };
}

export function presentLink(link: LinkRow, url: string) {
  return {
    id: link.id,
    object: "payment_link" as const,
    created: iso(link.created),
    livemode: link.mode === "live",
    url,
    active: link.active,
    amount_total: Number(link.amount_total),
    currency: link.currency,
    description: link.description,
    line_items: link.line_items.map(presentLineItem),
    app: link.app_id,
    expires_at: link.expires_at ? iso(link.expires_at) : null,
    max_uses: link.max_uses,
    uses: link.uses,
    after_completion: link.after_completion,
    metadata: link.metadata,
  };
}
