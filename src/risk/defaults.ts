/**
 * The rules every merchant starts with, enforced: they protect a new merchant before it has
 * written any rule of its own. Each can be switched to shadow or disabled like any other rule
 * (never deleted, so it is not made again). Thresholds are set so that one person paying from one
 * address or number never meets them, and a script does quickly; see docs/risk.md for the
 * measured false positives and misses.
 */
export const DEFAULT_RULES: readonly { name: string; rule: string }[] = [
  {
    // Card testing: many different cards, or many declines, from one address.
    name: "default: card testing",
    rule: 'block if method = "card" and (cards_per_ip_24h > 4 or declines_per_ip_1h >= 6)',
  },
  {
    // PIN brute force: after this many wrong PINs no new payment starts for the number or address
    // (each payment allows 3 PINs; checkout also throttles per session).
    name: "default: PIN brute force",
    rule: "block if pin_failures_per_msisdn_1h >= 10 or pin_failures_per_ip_1h >= 30",
  },
  {
    // Voucher guessing: wrong codes from one address, across customers and processes.
    name: "default: voucher guessing",
    rule: 'block if flow = "redemption" and voucher_failures_per_ip_1h >= 20',
  },
  {
    // Subscription bursts: bots subscribing numbers without their owners' consent.
    name: "default: subscription burst",
    rule: 'block if flow = "subscription" and (subscriptions_per_ip_1h > 5 or subscriptions_per_msisdn_range_1h > 20)',
  },
];

export const DEFAULT_NAME_PREFIX = "default:";
