/**
 * The portal's form for a second identity (issue 14): a signed-in payer adds an e-mail address,
 * proves it with the code the catcher kept, and sees both identities and what either paid. The
 * refusals are messages on the form: a malformed identity (400), a wrong code (401), an identity
 * another account holds (409, said only once the right code proved it), too many tries (429).
 * Without the page's CSRF token nothing happens; signed out, the form sends to the sign-in page.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PayerThrottle } from "../../src/payers/index.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { caughtCode } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;
const ALICE = "+4915112340110";
const ALICE_MAIL = "alice.k@example.org";
const BOB = "+4915112340120";
let mailPayment: string;

/** A browser in miniature: a cookie jar and the page's CSRF token. */
class Visitor {
  private readonly cookies = new Map<string, string>();
  csrf = "";

  async request(method: "GET" | "POST", url: string, form?: Record<string, string>, csrf = true) {
    const fields = csrf ? { _csrf: this.csrf, ...form } : { ...form };
    const payload = form ? new URLSearchParams(fields).toString() : undefined;
    const response = await t.app.inject({
      method,
      url,
      headers: {
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
        ...(payload === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" }),
      },
      ...(payload === undefined ? {} : { payload }),
    });
    for (const c of response.cookies as Array<{ name: string; value: string }>)
      this.cookies.set(c.name, c.value);
    const token = /name="csrf-token" content="([^"]+)"/.exec(response.body)?.[1];
    if (token) this.csrf = token;
    return response;
  }

  async signIn(msisdn: string) {
    await this.request("GET", "/portal");
    assert.equal((await this.request("POST", "/portal/code", { contact: msisdn })).statusCode, 200);
    const signedIn = await this.request("POST", "/portal/signin", {
      contact: msisdn,
      code: await caughtCode(t.app, msisdn),
    });
    assert.equal(signedIn.statusCode, 303, signedIn.body);
  }
}

/** The text of the page's error message (the field's), or null. */
function fieldError(html: string): string | null {
  return /<p class="field-error"[^>]*>([^<]*)<\/p>/.exec(html)?.[1]?.trim() ?? null;
}

before(async () => {
  t = await createTestApp();
  t.services.payers.ctx.throttle = new PayerThrottle();
  m = await createMerchant(t.app, "Stars GmbH");
  // A charge to a customer known only by the e-mail address Alice will add.
  const c = await call<{ id: string }>(t.app, "POST", "/v1/customers", {
    key: m.secretKey,
    body: { email: ALICE_MAIL },
  });
  const p = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount: 350,
      currency: "EUR",
      customer: c.body.id,
      payment_method: { type: "sandbox", scenario: "approve" },
    },
  });
  mailPayment = p.body.id;
  // Bob's account holds his number.
  await new Visitor().signIn(BOB);
});
after(() => t.close());

test("a payer adds an e-mail address with its code and sees both identities and its charges", async () => {
  const alice = new Visitor();
  await alice.signIn(ALICE);
  const before = (await alice.request("GET", "/portal")).body;
  assert.ok(before.includes('href="/portal/identities/new"'));
  assert.ok(!before.includes(mailPayment));
  assert.equal((await alice.request("GET", "/portal/identities/new")).statusCode, 200);

  const malformed = await alice.request("POST", "/portal/identities/code", { contact: "06 12" });
  assert.equal(malformed.statusCode, 400);
  assert.match(fieldError(malformed.body) ?? "", /^Enter a mobile number with its country code/);
  assert.ok(malformed.body.includes('aria-invalid="true"'));

  const sent = await alice.request("POST", "/portal/identities/code", { contact: " Alice.K@Example.org " });
  assert.equal(sent.statusCode, 200, sent.body);
  assert.ok(sent.body.includes('action="/portal/identities"'));
  assert.ok(sent.body.includes(`name="contact" value="${ALICE_MAIL}"`));
  const code = await caughtCode(t.app, ALICE_MAIL);

  const wrong = await alice.request("POST", "/portal/identities", {
    contact: ALICE_MAIL,
    code: code === "000000" ? "111111" : "000000",
  });
  assert.equal(wrong.statusCode, 401);
  assert.match(fieldError(wrong.body) ?? "", /^The code is not correct/);

  const linked = await alice.request("POST", "/portal/identities", { contact: ALICE_MAIL, code });
  assert.equal(linked.statusCode, 303, linked.body);
  assert.equal(linked.headers.location, "/portal?done=identity#identities");
  const home = (await alice.request("GET", "/portal?done=identity")).body;
  assert.ok(home.includes("Added to your account."));
  const listed = home.slice(home.indexOf('id="identities"'));
  assert.ok(listed.includes("+49 1511 2340110"), "the number, grouped");
  assert.ok(listed.includes(ALICE_MAIL));
  assert.ok(home.includes(mailPayment), "what the e-mail address paid shows");
});

test("another account's number: refused only once the code proves it, as a message", async () => {
  const alice = new Visitor();
  await alice.signIn("+4915112340130");
  const sent = await alice.request("POST", "/portal/identities/code", { contact: BOB });
  // Asking says nothing about who holds the number.
  assert.equal(sent.statusCode, 200);
  const wrong = await alice.request("POST", "/portal/identities", { contact: BOB, code: "999999" });
  assert.equal(wrong.statusCode, 401);
  assert.ok(!wrong.body.includes("another account"));
  const taken = await alice.request("POST", "/portal/identities", {
    contact: BOB,
    code: await caughtCode(t.app, BOB),
  });
  assert.equal(taken.statusCode, 409);
  assert.equal(
    fieldError(taken.body),
    "This number is already linked to another account. Sign in with it to see its charges",
  );
  const home = (await alice.request("GET", "/portal")).body;
  assert.ok(!home.slice(home.indexOf('id="identities"')).includes("2340120"));
});

test("in French; too many wrong codes: 429 with the minutes to wait", async () => {
  const visitor = new Visitor();
  await visitor.signIn("+4915112340140");
  await visitor.request("GET", "/portal?lang=fr");
  const target = "+4915112340150";
  assert.equal(
    (await visitor.request("POST", "/portal/identities/code", { contact: target })).statusCode,
    200,
  );
  let last = { statusCode: 0, body: "", headers: {} as Record<string, unknown> };
  for (let i = 0; i < 40 && last.statusCode !== 429; i++)
    last = await visitor.request("POST", "/portal/identities", { contact: target, code: "000000" });
  assert.equal(last.statusCode, 429);
  assert.ok(Number(last.headers["retry-after"]) > 0);
  assert.match(fieldError(last.body) ?? "", /^Trop de tentatives/);
});

test("without the CSRF token nothing is sent; signed out, the form leads to sign-in", async () => {
  const alice = new Visitor();
  await alice.signIn("+4915112340160");
  const forged = await alice.request("POST", "/portal/identities/code", { contact: "x@example.org" }, false);
  assert.equal(forged.statusCode, 403);
  const none = await call<{ data: unknown[] }>(t.app, "GET", "/v1/test_helpers/messages?to=x%40example.org", {
    key: m.secretKey,
  });
  assert.deepEqual(none.body.data, []);
  const stranger = new Visitor();
  await stranger.request("GET", "/portal");
  const out = await stranger.request("POST", "/portal/identities/code", { contact: "y@example.org" });
  assert.equal(out.statusCode, 303);
  assert.equal(out.headers.location, "/portal");
});
