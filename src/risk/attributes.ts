/**
 * What a rule can read about a payment (or a checkout, a redemption, a subscription): each
 * attribute's name and type, checked when a rule is compiled. Velocity counters are numbers
 * counted over a window from observations (velocity.ts); they are computed only when an active
 * rule of the merchant reads them.
 */
export type AttributeType = "number" | "string" | "boolean";

export interface AttributeSpec {
  type: AttributeType;
  description: string;
}

export const PLAIN_ATTRIBUTES = {
  amount: { type: "number", description: "The amount in the currency's minor unit." },
  currency: { type: "string", description: "ISO 4217 code." },
  country: { type: "string", description: "The payer's country (the operator's, else the customer's)." },
  ip: { type: "string", description: "The payer's address (checkout pages, or `ip_address` on the API)." },
  ip_country: {
    type: "string",
    description:
      "The payer's country from the trusted proxy's header (CENTIME_IP_COUNTRY_HEADER), when known.",
  },
  operator: { type: "string", description: "The carrier (MCC+MNC) of a carrier payment." },
  method: { type: "string", description: "payment_method.type: sandbox, carrier, card, wallet." },
  msisdn: { type: "string", description: "The payer's number (E.164)." },
  msisdn_range: {
    type: "string",
    description: "The payer's number without its last three digits (one block of numbers).",
  },
  card_fingerprint: { type: "string", description: "The same for every use of one card number." },
  app: { type: "string", description: "The checkout app (publishable key's app), when one is known." },
  customer: { type: "string", description: "The customer id, when one is given." },
  flow: { type: "string", description: "payment, checkout, subscription, redemption or signin." },
  page_open_ms: { type: "number", description: "Milliseconds since the checkout page was opened." },
  framed: { type: "boolean", description: "Whether the checkout page was shown inside a frame." },
} as const satisfies Record<string, AttributeSpec>;

/**
 * A velocity counter counts observations of one kind about one subject (an address, a number)
 * in a trailing window; `distinct` counts distinct values instead (cards seen from one address).
 * The current event is counted too: the first payment of a number reads 1.
 */
export interface CounterSpec {
  kind: ObservationKind;
  subject: "ip" | "msisdn" | "msisdn_range" | "card_fingerprint";
  windowMs: number;
  distinct?: boolean;
  description: string;
}

/** What is observed: attempts before any money moves, and failures as they happen. */
export type ObservationKind =
  | "payment"
  | "card_payment"
  | "decline"
  | "pin_failure"
  | "voucher_failure"
  | "subscription";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export const COUNTERS = {
  payments_per_msisdn_1h: {
    kind: "payment",
    subject: "msisdn",
    windowMs: HOUR_MS,
    description: "Payments from this number in the last hour.",
  },
  payments_per_msisdn_24h: {
    kind: "payment",
    subject: "msisdn",
    windowMs: DAY_MS,
    description: "Payments from this number in the last 24 hours.",
  },
  payments_per_ip_1h: {
    kind: "payment",
    subject: "ip",
    windowMs: HOUR_MS,
    description: "Payments from this address in the last hour.",
  },
  payments_per_msisdn_range_1h: {
    kind: "payment",
    subject: "msisdn_range",
    windowMs: HOUR_MS,
    description: "Payments from this block of 1,000 numbers in the last hour.",
  },
  payments_per_card_24h: {
    kind: "card_payment",
    subject: "card_fingerprint",
    windowMs: DAY_MS,
    description: "Payments with this card in the last 24 hours.",
  },
  card_payments_per_ip_1h: {
    kind: "card_payment",
    subject: "ip",
    windowMs: HOUR_MS,
    description: "Card payments from this address in the last hour.",
  },
  cards_per_ip_24h: {
    kind: "card_payment",
    subject: "ip",
    windowMs: DAY_MS,
    distinct: true,
    description: "Distinct cards used from this address in the last 24 hours.",
  },
  declines_per_ip_1h: {
    kind: "decline",
    subject: "ip",
    windowMs: HOUR_MS,
    description: "Declined payments from this address in the last hour.",
  },
  declines_per_card_24h: {
    kind: "decline",
    subject: "card_fingerprint",
    windowMs: DAY_MS,
    description: "Declined payments with this card in the last 24 hours.",
  },
  pin_failures_per_msisdn_1h: {
    kind: "pin_failure",
    subject: "msisdn",
    windowMs: HOUR_MS,
    description: "Wrong PINs for this number in the last hour.",
  },
  pin_failures_per_ip_1h: {
    kind: "pin_failure",
    subject: "ip",
    windowMs: HOUR_MS,
    description: "Wrong PINs from this address in the last hour.",
  },
  voucher_failures_per_ip_1h: {
    kind: "voucher_failure",
    subject: "ip",
    windowMs: HOUR_MS,
    description: "Wrong voucher codes from this address in the last hour.",
  },
  subscriptions_per_ip_1h: {
    kind: "subscription",
    subject: "ip",
    windowMs: HOUR_MS,
    description: "Subscriptions started from this address in the last hour.",
  },
  subscriptions_per_msisdn_range_1h: {
    kind: "subscription",
    subject: "msisdn_range",
    windowMs: HOUR_MS,
    description: "Subscriptions started from this block of 1,000 numbers in the last hour.",
  },
} as const satisfies Record<string, CounterSpec>;

export type PlainAttribute = keyof typeof PLAIN_ATTRIBUTES;
export type CounterName = keyof typeof COUNTERS;
export type AttributeName = PlainAttribute | CounterName;

/** Counters stop counting here: a rule compares against small numbers, and a count is a bounded scan. */
export const COUNTER_SATURATION = 1000;

/** The longest window any counter reads: observations older than this are never read again. */
export const COUNTER_WINDOW_MAX_MS = DAY_MS;

export function attributeType(name: string): AttributeType | undefined {
  if (Object.hasOwn(PLAIN_ATTRIBUTES, name)) return PLAIN_ATTRIBUTES[name as PlainAttribute].type;
  if (Object.hasOwn(COUNTERS, name)) return "number";
  return undefined;
}

export function isCounter(name: string): name is CounterName {
  return Object.hasOwn(COUNTERS, name);
}

export const ATTRIBUTE_NAMES: readonly string[] = [
  ...Object.keys(PLAIN_ATTRIBUTES),
  ...Object.keys(COUNTERS),
];

/** The values a rule reads: absent attributes are unknown (see docs/risk.md for how they compare). */
export type Facts = Partial<Record<AttributeName, string | number | boolean>>;

/** Lists a rule may name: `blocklist("msisdns")`, `allowlist("countries")`. */
export const LIST_NAMES = ["msisdns", "ips", "card_fingerprints", "countries"] as const;
export type ListName = (typeof LIST_NAMES)[number];
export type ListType = "blocklist" | "allowlist";
