/**
 * Signed payment links: every way of changing a URL is refused (403) before any database read,
 * expired links answer 410, and key rotation keeps old links working for the overlap only.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { type LinkKeyring, newLinkKey, signLinkPath, verifyLink } from "../../src/checkout/link-signing.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { pathOf } from "./support.ts";

const ID = "plink_01kb2n3m4p5q6r7s8t9v0wxyza";
const NOW = Date.parse("2026-06-01T00:00:00Z");

function ring(...keys: ReturnType<typeof newLinkKey>[]): LinkKeyring {
  return { current: keys[0]!, byKid: new Map(keys.map((k) => [k.kid, k])) };
}

function queryOf(path: string): Record<string, string> {
  return Object.fromEntries(new URL(path, "http://x").searchParams);
}

const terms = { id: ID, amount: 199n, currency: "EUR", expiresAtSeconds: NOW / 1000 + 3600 };

test("the tamper matrix: each parameter changed, cut, added or duplicated is refused as tampered", () => {
  const keys = ring(newLinkKey("k0001"));
  const good = queryOf(signLinkPath(terms, keys));
  assert.deepEqual(verifyLink(ID, good, keys, NOW), { ok: true, terms, kid: "k0001" });
  const cases: [string, string, Record<string, unknown>][] = [
    ["amount", ID, { ...good, amount: "198" }],
    ["amount with a leading zero", ID, { ...good, amount: "0199" }],
    ["currency", ID, { ...good, currency: "USD" }],
    ["expiry pushed", ID, { ...good, expires: String(terms.expiresAtSeconds + 86400) }],
    ["expiry removed", ID, { ...good, expires: "" }],
    ["link id", "plink_01kb2n3m4p5q6r7s8t9v0wxyzb", good],
    [
      "signature flipped",
      ID,
      { ...good, sig: `${good.sig!.slice(0, -1)}${good.sig!.endsWith("A") ? "B" : "A"}` },
    ],
    ["signature cut", ID, { ...good, sig: good.sig!.slice(0, 20) }],
    ["signature missing", ID, { ...good, sig: undefined }],
    ["kid missing", ID, { ...good, kid: undefined }],
    ["a parameter added", ID, { ...good, discount: "100" }],
    ["a parameter repeated", ID, { ...good, amount: ["199", "1"] }],
    ["an id that is not a link's", "cs_01kb2n3m4p5q6r7s8t9v0wxyza", good],
  ];
  for (const [name, id, query] of cases) {
    const clean = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined));
    assert.deepEqual(verifyLink(id, clean, keys, NOW), { ok: false, reason: "tampered" }, name);
  }
  assert.equal(verifyLink(ID, { ...good, lang: "fr" }, keys, NOW).ok, true, "the language is not a term");
});

test("property: any change to any signed parameter is refused", () => {
  const keys = ring(newLinkKey("k0001"));
  const good = queryOf(signLinkPath(terms, keys));
  fc.assert(
    fc.property(
      fc.constantFrom("amount", "currency", "expires", "kid", "sig"),
      fc.string({ minLength: 0, maxLength: 50 }),
      (name, value) => {
        fc.pre(value !== good[name]);
        const verdict = verifyLink(ID, { ...good, [name]: value }, keys, NOW);
        return !verdict.ok && (verdict.reason === "tampered" || verdict.reason === "unknown_key");
      },
    ),
    { numRuns: 2000 },
  );
});

test("expired links are refused as expired; an unknown key id as unknown", () => {
  const keys = ring(newLinkKey("k0001"));
  const good = queryOf(signLinkPath(terms, keys));
  assert.deepEqual(verifyLink(ID, good, keys, (terms.expiresAtSeconds + 1) * 1000), {
    ok: false,
    reason: "expired",
  });
  const other = ring(newLinkKey("k0002"));
  assert.deepEqual(verifyLink(ID, good, other, NOW), { ok: false, reason: "unknown_key" });
  const forged = queryOf(signLinkPath(terms, ring(newLinkKey("k0001"))));
  assert.deepEqual(
    verifyLink(ID, forged, keys, NOW),
    { ok: false, reason: "tampered" },
    "same kid, another secret",
  );
});

test("rotation: the old key verifies until its retirement, then is refused like an unknown key", () => {
  const old = newLinkKey("k0001");
  const signedBefore = queryOf(signLinkPath(terms, ring(old)));
  const next = newLinkKey("k0002");
  const rotated = ring(next, { ...old, retiresAtMs: NOW + 1000 });
  assert.equal(verifyLink(ID, signedBefore, rotated, NOW).ok, true, "within the overlap");
  assert.deepEqual(verifyLink(ID, signedBefore, rotated, NOW + 1000), { ok: false, reason: "unknown_key" });
  const signedAfter = queryOf(signLinkPath(terms, rotated));
  assert.equal(signedAfter.kid, "k0002", "new links are signed with the new key");
  assert.equal(verifyLink(ID, signedAfter, rotated, NOW + 5000).ok, true);
});

test("verification costs microseconds", () => {
  const keys = ring(newLinkKey("k0001"));
  const good = queryOf(signLinkPath(terms, keys));
  const n = 20_000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) verifyLink(ID, good, keys, NOW);
  const perCallUs = Number(process.hrtime.bigint() - started) / n / 1000;
  assert.ok(perCallUs < 200, `${perCallUs.toFixed(1)} µs per verification`);
});

let t: TestApp;
let m: MerchantKeys;
const clock = new FakeClock(Date.now());
before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
});
after(() => t.close());

test("over HTTP: tampered and unknown-key links get a 403 page, expired a 410 page, never a 500", async () => {
  const link = await call<{ id: string; url: string }>(t.app, "POST", "/v1/payment_links", {
    key: m.secretKey,
    body: { amount: 250, currency: "EUR", expires_at: new Date(clock.nowMs() + 3600_000).toISOString() },
  });
  assert.equal(link.status, 201, JSON.stringify(link.body));
  const path = pathOf(link.body.url);
  assert.equal((await t.app.inject({ method: "GET", url: path })).statusCode, 303);
  const variants: [string, number, RegExp][] = [
    [path.replace("amount=250", "amount=1"), 403, /not valid/],
    [path.replace(/sig=[^&]+/, "sig="), 403, /not valid/],
    [path.replace(/kid=[^&]+/, "kid=kzzzzzz"), 403, /no longer valid/],
    // A NUL byte is refused at the edge, before the page: still a clear 4xx page.
    [path.replace(/\/pay\/plink_[0-9a-z]+/, "/pay/plink_%00%3Cscript%3E"), 400, /not valid/],
    [path.replace(/\/pay\/plink_[0-9a-z]+/, "/pay/plink_%3Cscript%3E"), 403, /not valid/],
    [`${path}&amount=1`, 403, /not valid/],
    ["/pay/plink_x", 403, /not valid/],
  ];
  for (const [url, status, text] of variants) {
    const r = await t.app.inject({ method: "GET", url });
    assert.equal(r.statusCode, status, url);
    assert.match(r.headers["content-type"] as string, /text\/html/);
    assert.match(r.body, text);
    assert.match(r.body, /Nothing was charged/);
  }
  clock.advance(3600_000 + 1000);
  const expired = await t.app.inject({ method: "GET", url: path });
  assert.equal(expired.statusCode, 410);
  assert.match(expired.body, /expired/);
});

test("over HTTP: after a rotation, old URLs work for the overlap, and the API hands out new ones", async () => {
  const link = await call<{ id: string; url: string }>(t.app, "POST", "/v1/payment_links", {
    key: m.secretKey,
    body: { amount: 400, currency: "EUR" },
  });
  const oldPath = pathOf(link.body.url);
  const rotated = await call<{ kid: string }>(t.app, "POST", "/v1/payment_link_keys/rotate", {
    key: ADMIN_KEY,
    body: { overlap_seconds: 60 },
  });
  assert.equal(rotated.status, 200);
  assert.equal((await t.app.inject({ method: "GET", url: oldPath })).statusCode, 303, "within the overlap");
  const fresh = await call<{ url: string }>(t.app, "GET", `/v1/payment_links/${link.body.id}`, {
    key: m.secretKey,
  });
  assert.match(fresh.body.url, new RegExp(`kid=${rotated.body.kid}`));
  clock.advance(61_000);
  const retired = await t.app.inject({ method: "GET", url: oldPath });
  assert.equal(retired.statusCode, 403, "the retired key is refused");
  assert.match(retired.body, /no longer valid/);
  assert.equal((await t.app.inject({ method: "GET", url: pathOf(fresh.body.url) })).statusCode, 303);
});
