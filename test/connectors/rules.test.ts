/**
 * Country and operator rules live in one configuration file; payments, checkout pages and
 * renewals read the same resolved rules. These checks keep that file sound as people edit it.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { rulesFor } from "../../src/billing/rules.ts";
import { carrierRules } from "../../src/checkout/country-rules.ts";
import { carrierRulesFor, getOperator } from "../../src/connectors/operators/index.ts";

const config = createRequire(import.meta.url)("../../src/connectors/operators/operators.config.json") as {
  countries: Record<string, unknown>;
  operators: Record<string, unknown>;
};

test("every configured country resolves: a real time zone, a window, caps in minor units", () => {
  for (const country of Object.keys(config.countries)) {
    const rules = carrierRulesFor(country, null);
    assert.doesNotThrow(() => new Intl.DateTimeFormat("en", { timeZone: rules.time_zone }), country);
    assert.match(rules.window.start, /^\d\d:\d\d$/, country);
    const billing = rulesFor(country, null);
    assert.ok(billing.window_minutes, `${country}: the window parses`);
    if (rules.caps) {
      for (const cap of [rules.caps.transaction_max, rules.caps.day_max, rules.caps.month_max]) {
        if (cap !== undefined) assert.equal(typeof cap, "bigint", country);
      }
    }
  }
  for (const id of Object.keys(config.operators)) {
    assert.ok(getOperator(id), `${id} is a known operator`);
    assert.doesNotThrow(() => rulesFor(getOperator(id)!.country, id), id);
  }
});

test("a country's caps, an operator's own terms, and the checkout's confirmation come from the same place", () => {
  const france = carrierRulesFor("FR", null);
  assert.deepEqual(france.caps, { currency: "EUR", transaction_max: 5_000n, month_max: 30_000n });
  assert.equal(france.time_zone, "Europe/Paris");
  // Orange France refuses price-point downgrades; the other French operators accept them.
  assert.equal(carrierRulesFor("FR", "20801").partial_payments, false);
  assert.equal(carrierRulesFor("FR", "20810").partial_payments, true);
  // Ethio Telecom: its own window and its gateway's rate.
  const ethio = rulesFor("ET", "63601");
  assert.deepEqual(ethio.window, { start: "08:00", end: "20:00" });
  assert.equal(ethio.tps_max, 20);
  for (const country of Object.keys(config.countries)) {
    const renewals = rulesFor(country, null);
    const page = carrierRules(country);
    assert.equal(page.doubleOptIn, renewals.double_opt_in, `${country}: double opt-in`);
    assert.equal(page.otpDigitsMin, renewals.pin_length_min, `${country}: code length`);
  }
  assert.equal(carrierRules("IT").otpDigitsMin, 5);
  assert.equal(carrierRules("GB").doubleOptIn, true);
  assert.equal(carrierRules("US").doubleOptIn, false);
});
