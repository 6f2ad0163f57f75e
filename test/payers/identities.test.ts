/**
 * Goal: a payer signed in by e-mail adds a number (and one signed in by number adds an address),
 * each proven by a one-time code from the development catcher; afterwards their list and the
 * portal show the charges of both identities and nothing of anyone else's; an identity another
 * account holds is refused with 409 naming the field, and a wrong code links nothing.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PayerThrottle } from "../../src/payers/index.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { caughtCode, payerCall, type Session, signInWithCode } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;

const post = <T = Record<string, unknown>>(url: string, body: unknown) =>
  call<T>(t.app, "POST", url, { key: m.secretKey, body });

/** A charge to a customer known by this number or address. */
async function chargeCustomer(identity: { msisdn: string } | { email: string }, amount: number) {
  const c = await post<{ id: string }>("/v1/customers", { ...identity, country: "DE" });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const p = await post<{ id: string; status: string }>("/v1/payments", {
    amount,
    currency: "EUR",
    customer: c.body.id,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  assert.equal(p.body.status, "succeeded");
  return p.body.id;
}

type Payer = { identities: Array<{ type: string; value: string; confirmed: boolean }> };

async function link(session: Session, identity: { msisdn: string } | { email: string }) {
  const sent = await payerCall(t.app, session.token, "POST", "/v1/payer/identities/codes", identity);
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const code = await caughtCode(t.app, "msisdn" in identity ? identity.msisdn : identity.email);
  return payerCall<Payer & { error?: { code: string; param: string; message: string } }>(
    t.app,
    session.token,
    "POST",
    "/v1/payer/identities",
    { ...identity, code },
  );
}

async function paymentIds(session: Session): Promise<string[]> {
  const r = await payerCall<{ data: Array<{ id: string }> }>(
    t.app,
    session.token,
    "GET",
    "/v1/payer/payments",
  );
  assert.equal(r.status, 200);
  return r.body.data.map((p) => p.id).sort();
}

before(async () => {
  t = await createTestApp();
  t.services.payers.ctx.throttle = new PayerThrottle();
  m = await createMerchant(t.app, "Linked studio");
});
after(() => t.close());

test("e-mail then a number: charges of both are listed, and only theirs", async () => {
  const email = "ana@example.com";
  const msisdn = "+4915112349001";
  const byEmail = await chargeCustomer({ email }, 300);
  const byNumber = await chargeCustomer({ msisdn }, 400);
  const someoneElse = await chargeCustomer({ msisdn: "+4915112349002" }, 500);
  const ana = await signInWithCode(t.app, { email });
  assert.deepEqual(await paymentIds(ana), [byEmail]);

  // A wrong code links nothing.
  await payerCall(t.app, ana.token, "POST", "/v1/payer/identities/codes", { msisdn });
  const wrong = await payerCall<{ error: { code: string; param: string } }>(
    t.app,
    ana.token,
    "POST",
    "/v1/payer/identities",
    { msisdn, code: "000000" },
  );
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error.param, "code");
  assert.deepEqual(await paymentIds(ana), [byEmail]);

  const linked = await link(ana, { msisdn });
  assert.equal(linked.status, 201, JSON.stringify(linked.body));
  assert.deepEqual(
    linked.body.identities.map((i) => [i.type, i.value, i.confirmed]),
    [
      ["email", email, true],
      ["msisdn", msisdn, true],
    ],
  );
  const seen = await paymentIds(ana);
  assert.deepEqual(seen, [byEmail, byNumber].sort());
  assert.ok(!seen.includes(someoneElse), "a payer sees only their own charges");
  // Another payer's charge by id: 404, even after linking.
  const other = await payerCall(t.app, ana.token, "GET", `/v1/payer/payments/${someoneElse}`);
  assert.equal(other.status, 404);
  // Linking again is harmless.
  assert.equal((await link(ana, { msisdn })).status, 201);

  // The portal shows both too (a new sign-in with the number reaches the same account).
  const again = await signInWithCode(t.app, { msisdn });
  assert.equal(again.payer.id, ana.payer.id);
});

test("a number then an e-mail address, the other way round", async () => {
  const msisdn = "+4915112349011";
  const email = "bo@example.com";
  const byNumber = await chargeCustomer({ msisdn }, 110);
  const byEmail = await chargeCustomer({ email }, 120);
  const bo = await signInWithCode(t.app, { msisdn });
  assert.deepEqual(await paymentIds(bo), [byNumber]);
  const linked = await link(bo, { email });
  assert.equal(linked.status, 201, JSON.stringify(linked.body));
  assert.deepEqual(await paymentIds(bo), [byEmail, byNumber].sort());
});

test("a number another payer holds: 409 naming the field, nothing moves", async () => {
  const taken = "+4915112349021";
  const owners = await chargeCustomer({ msisdn: taken }, 700);
  const owner = await signInWithCode(t.app, { msisdn: taken });
  const intruder = await signInWithCode(t.app, { email: "cy@example.com" });
  const refused = await link(intruder, { msisdn: taken });
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal(refused.body.error?.code, "payer_exists");
  assert.equal(refused.body.error?.param, "msisdn");
  assert.match(refused.body.error?.message ?? "", /already linked to another payer account/);
  assert.deepEqual(await paymentIds(intruder), []);
  assert.deepEqual(await paymentIds(owner), [owners]);
  const account = await payerCall<Payer>(t.app, intruder.token, "GET", "/v1/payer/account");
  assert.deepEqual(
    account.body.identities.map((i) => i.type),
    ["email"],
  );
});

test("the portal lists the charges of both identities after linking", async () => {
  const email = "dee@example.com";
  const msisdn = "+4915112349031";
  const byEmail = await chargeCustomer({ email }, 210);
  const byNumber = await chargeCustomer({ msisdn }, 220);
  const notHers = await chargeCustomer({ msisdn: "+4915112349032" }, 230);
  const dee = await signInWithCode(t.app, { email });
  assert.equal((await link(dee, { msisdn })).status, 201);
  // Sign in to the portal with the number: the page lists both identities' charges.
  const cookies = new Map<string, string>();
  let csrf = "";
  const visit = async (method: "GET" | "POST", url: string, form?: Record<string, string>) => {
    const payload = form ? new URLSearchParams({ _csrf: csrf, ...form }).toString() : undefined;
    const r = await t.app.inject({
      method,
      url,
      headers: {
        cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; "),
        ...(payload ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
      ...(payload ? { payload } : {}),
    });
    for (const c of r.cookies as Array<{ name: string; value: string }>) cookies.set(c.name, c.value);
    csrf = /name="csrf-token" content="([^"]+)"/.exec(r.body)?.[1] ?? csrf;
    return r;
  };
  await visit("GET", "/portal");
  assert.equal((await visit("POST", "/portal/code", { contact: msisdn })).statusCode, 200);
  const signedIn = await visit("POST", "/portal/signin", {
    contact: msisdn,
    code: await caughtCode(t.app, msisdn),
  });
  assert.equal(signedIn.statusCode, 303);
  const page = (await visit("GET", "/portal")).body;
  assert.ok(page.includes(byEmail) && page.includes(byNumber), "both identities' charges");
  assert.ok(!page.includes(notHers));
});
