/**
 * Payer sign-ins go through the risk engine (src/risk/signin.ts): wrong codes are PIN guesses the
 * default `PIN brute force` rule counts per address across numbers, a blocked attempt is a 429,
 * and the throttles' refusals are stored as decisions too, with the country the trusted proxy
 * reported (CENTIME_IP_COUNTRY_HEADER).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PayerThrottle } from "../../src/payers/index.ts";
import { ipCountryFrom, SIGNIN_SCOPE } from "../../src/risk/index.ts";
import { createTestApp, FakeClock, type TestApp } from "../support/app.ts";

const clock = new FakeClock(Date.parse("2026-06-10T12:00:00Z"));
let t: TestApp;

before(async () => {
  t = await createTestApp({ clock, config: { ipCountryHeader: "cf-ipcountry" } });
  t.services.payers.ctx.throttle = new PayerThrottle();
});
after(() => t.close());

async function tryCode(msisdn: string, remoteAddress: string, country = "FR") {
  const r = await t.app.inject({
    method: "POST",
    url: "/v1/payer_sessions",
    remoteAddress,
    headers: { "content-type": "application/json", "cf-ipcountry": country },
    payload: JSON.stringify({ msisdn, code: "000000" }),
  });
  return { status: r.statusCode, retryAfter: r.headers["retry-after"], body: JSON.parse(r.body) };
}

async function decisions(where: string, params: unknown[]) {
  const { rows } = await t.database.db.query<{
    rule_name: string;
    action: string;
    decided: boolean;
    attribute_values: Record<string, unknown>;
  }>(
    `select rule_name, action, decided, attribute_values from risk_decisions
      where merchant_id = $1 and flow = 'signin' and ${where} order by created, id`,
    [SIGNIN_SCOPE.merchantId, ...params],
  );
  return rows;
}

test("wrong codes from one address across many numbers are stopped by the PIN brute-force default", async () => {
  const ip = "198.51.100.20";
  for (let i = 0; i < 30; i++) {
    const r = await tryCode(`+3361234${String(i).padStart(4, "0")}`, ip);
    assert.equal(r.status, 401, `attempt ${i + 1}: ${JSON.stringify(r.body)}`);
  }
  // The 31st guess, on a fresh number, never reaches the code check.
  const blocked = await tryCode("+33612349999", ip);
  assert.equal(blocked.status, 429);
  assert.equal(blocked.retryAfter, "3600");
  const stored = await decisions("rule_name = $2", ["default: PIN brute force"]);
  assert.equal(stored.length, 1);
  assert.equal(stored[0]!.decided, true);
  assert.equal(stored[0]!.attribute_values.pin_failures_per_ip_1h, 30);
  // Another address is not held back.
  assert.equal((await tryCode("+33612349999", "198.51.100.21")).status, 401);
  // An hour on, the guesses have left the window.
  clock.advance(61 * 60_000);
  assert.equal((await tryCode("+33612349998", ip)).status, 401);
});

test("a throttle's refusal is stored as a decision, with the proxy's country", async () => {
  const msisdn = "+33698765432";
  const ip = "203.0.113.5";
  for (let i = 0; i < 10; i++) assert.equal((await tryCode(msisdn, ip, "de")).status, 401);
  const refused = await tryCode(msisdn, ip, "de");
  assert.equal(refused.status, 429);
  const stored = await decisions("rule_name like 'throttle:%' and attribute_values ->> 'ip' = $2", [ip]);
  assert.equal(stored.length, 1);
  assert.deepEqual(stored[0]!.attribute_values, { ip, ip_country: "DE", msisdn });
});

test("ip_country comes from the configured header only, and unknown values are unknown", () => {
  assert.equal(ipCountryFrom({ "cf-ipcountry": "fr" }, "cf-ipcountry"), "FR");
  assert.equal(ipCountryFrom({ "cf-ipcountry": "FR" }, undefined), undefined);
  assert.equal(ipCountryFrom({}, "cf-ipcountry"), undefined);
  assert.equal(ipCountryFrom({ "cf-ipcountry": "XX" }, "cf-ipcountry"), undefined);
  assert.equal(ipCountryFrom({ "cf-ipcountry": "T1" }, "cf-ipcountry"), undefined);
  assert.equal(ipCountryFrom({ "cf-ipcountry": "France" }, "cf-ipcountry"), undefined);
  assert.equal(ipCountryFrom({ "x-country": ["gb", "fr"] }, "X-Country"), "GB");
});
