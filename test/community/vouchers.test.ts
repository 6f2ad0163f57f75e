/** Scratch cards: approval by the owner only, the printer's file once, activation, voiding, expiry, redemption, throttling. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { checkCharacter, DEFAULT_ALPHABET, isWellFormed, normalizeCode } from "../../src/vouchers/codes.ts";
import { FAILURE_WINDOW_MS } from "../../src/vouchers/redeem.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { assertLedgerSound, customer, innerCurrency, wallet } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
  await innerCurrency(t.app, m, "GEMS");
});
after(() => t.close());

type Batch = { id: string; status: string; serial_first: string; serial_last: string };
type Redemption = {
  status: string;
  granted: Record<string, unknown>;
  error?: { code: string; type: string };
};

let ipCounter = 0;
/** Each call from its own address unless told otherwise, so throttling is tested on purpose only. */
function redeem(
  code: string,
  customerId: string,
  ip = `10.0.${Math.floor(ipCounter / 250)}.${ipCounter++ % 250}`,
) {
  return t.app
    .inject({
      method: "POST",
      url: "/v1/voucher_redemptions",
      headers: { authorization: `Bearer ${m.secretKey}`, "content-type": "application/json" },
      payload: JSON.stringify({ code, customer: customerId }),
      remoteAddress: ip,
    })
    .then((r) => ({
      status: r.statusCode,
      body: JSON.parse(r.body) as Redemption,
      raw: r.body,
      headers: r.headers,
    }));
}

async function approvedBatch(body: Record<string, unknown>) {
  const created = await call<Batch>(t.app, "POST", "/v1/voucher_batches", { key: m.secretKey, body });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.status, "pending_approval");
  const approved = await call<Batch>(t.app, "POST", `/v1/voucher_batches/${created.body.id}/approve`, {
    key: ADMIN_KEY,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  const csv = await t.app.inject({
    method: "GET",
    url: `/v1/voucher_batches/${created.body.id}/codes`,
    headers: { authorization: `Bearer ${m.secretKey}` },
  });
  assert.equal(csv.statusCode, 200);
  const lines = csv.body.trim().split("\n");
  assert.equal(lines[0], "serial,code");
  const cards = lines.slice(1).map((l) => {
    const [serial, code] = l.split(",");
    return { serial: serial!, code: code! };
  });
  return { id: created.body.id, cards };
}

test("codes: look-alike free alphabet, a check character that catches every single typo", () => {
  for (const c of "01ILO") assert.ok(!DEFAULT_ALPHABET.includes(c));
  const format = { alphabet: DEFAULT_ALPHABET, length: 16, group: 4 };
  const payload = "ABCDEFGHJKMNPQR";
  const code = payload + checkCharacter(payload, DEFAULT_ALPHABET);
  assert.ok(isWellFormed(code, format));
  for (let i = 0; i < code.length; i++)
    for (const c of DEFAULT_ALPHABET) {
      if (c === code[i]) continue;
      const typo = code.slice(0, i) + c + code.slice(i + 1);
      assert.ok(!isWellFormed(typo, format), typo);
    }
  for (let i = 0; i + 1 < code.length; i++) {
    if (code[i] === code[i + 1]) continue;
    const swapped = code.slice(0, i) + code[i + 1] + code[i] + code.slice(i + 2);
    assert.ok(!isWellFormed(swapped, format), swapped);
  }
  assert.equal(normalizeCode(" abcd-efgh jkmn-pqrs "), "ABCDEFGHJKMNPQRS");
});

test("a batch is approved by the platform owner only, never by its creator; the file downloads once", async () => {
  const created = await call<Batch>(t.app, "POST", "/v1/voucher_batches", {
    key: m.secretKey,
    body: { count: 3, value: { amount: 500, currency: "GEMS" }, serial_prefix: "A" },
  });
  assert.equal(created.status, 201);
  const byCreator = await call<{ error: { code: string; type: string } }>(
    t.app,
    "POST",
    `/v1/voucher_batches/${created.body.id}/approve`,
    { key: m.secretKey },
  );
  assert.equal(byCreator.status, 403);
  assert.equal(byCreator.body.error.code, "approver_is_creator");
  const early = await t.app.inject({
    method: "GET",
    url: `/v1/voucher_batches/${created.body.id}/codes`,
    headers: { authorization: `Bearer ${m.secretKey}` },
  });
  assert.equal(early.statusCode, 409);
  const approved = await call<Batch>(t.app, "POST", `/v1/voucher_batches/${created.body.id}/approve`, {
    key: ADMIN_KEY,
  });
  assert.equal(approved.body.status, "approved");
  assert.equal(approved.body.serial_first, "A00000001");
  const twice = await call(t.app, "POST", `/v1/voucher_batches/${created.body.id}/approve`, {
    key: ADMIN_KEY,
  });
  assert.equal(twice.status, 409);
  const get = (key: string) =>
    t.app.inject({
      method: "GET",
      url: `/v1/voucher_batches/${created.body.id}/codes`,
      headers: { authorization: `Bearer ${key}` },
    });
  const first = await get(m.secretKey);
  assert.equal(first.statusCode, 200);
  assert.match(first.headers["content-type"] as string, /^text\/csv/);
  const rows = first.body.trim().split("\n");
  assert.equal(rows.length, 4);
  assert.match(rows[1]!, /^A00000001,[2-9A-HJKMNP-Z]{4}(-[2-9A-HJKMNP-Z]{4}){3}$/);
  const second = await get(m.secretKey);
  assert.equal(second.statusCode, 410);
  assert.equal(JSON.parse(second.body).error.code, "voucher_codes_gone");
  // Only keyed hashes are stored: no code appears anywhere in the database.
  const code = normalizeCode(rows[1]!.split(",")[1]!);
  const { rows: leaks } = await t.services.db.query(
    "select 1 from vouchers where code_hash like $1 union all select 1 from voucher_batches where codes_sealed like $1",
    [`%${code}%`],
  );
  assert.equal(leaks.length, 0);
});

test("redeemable only once activated, never after voiding or expiry; liability follows the cards", async () => {
  const c = await customer(t.app, m);
  const { id, cards } = await approvedBatch({
    count: 6,
    value: { amount: 500, currency: "GEMS" },
    serial_prefix: "B",
  });
  const before = await redeem(cards[0]!.code, c);
  assert.equal(before.status, 400);
  assert.equal(before.body.error?.code, "voucher_invalid");
  const activated = await call<{ activated: number }>(t.app, "POST", `/v1/voucher_batches/${id}/activate`, {
    key: m.secretKey,
    body: { serial_from: "B00000001", serial_to: 4 },
  });
  assert.equal(activated.status, 200, JSON.stringify(activated.body));
  assert.equal(activated.body.activated, 4);
  const ok = await redeem(cards[0]!.code.toLowerCase(), c);
  assert.equal(ok.status, 201, ok.raw);
  assert.equal(ok.body.status, "posted");
  assert.equal(ok.body.granted.amount, 500);
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 500);
  const again = await redeem(cards[0]!.code, c);
  assert.equal(again.status, 400);
  const voided = await call<{ voided: number }>(t.app, "POST", `/v1/voucher_batches/${id}/void`, {
    key: m.secretKey,
    body: { serial_from: 2, serial_to: 3 },
  });
  assert.equal(voided.body.voided, 2);
  assert.equal((await redeem(cards[1]!.code, c)).status, 400);
  assert.equal((await redeem(cards[4]!.code, c)).status, 400); // never activated
  const report = await call<{ data: { batch: string; outstanding: number; cards_redeemed: number }[] }>(
    t.app,
    "GET",
    "/v1/reports/voucher_liability",
    { key: m.secretKey },
  );
  const line = report.body.data.find((l) => l.batch === id)!;
  // 4 activated (2000), 1 redeemed (-500), 2 voided (-1000): card 4 is still owed.
  assert.equal(line.outstanding, 500);
  assert.equal(line.cards_redeemed, 1);
  // Every answer for a bad code (used, voided, inactive, unknown, malformed) is the same, byte for
  // byte, but for the request's own id (every error body names its request).
  const bodies = new Set<string>();
  for (const code of [cards[0]!.code, cards[1]!.code, cards[5]!.code, "ABCD-EFGH-JKMN-PQRS", "not a code"]) {
    const r = await redeem(code, await customer(t.app, m));
    assert.equal(r.status, 400);
    assert.match(r.raw, /"request_id":"req_[A-Za-z0-9_-]+"/);
    bodies.add(r.raw.replace(/"request_id":"req_[A-Za-z0-9_-]+"/, ""));
  }
  assert.equal(bodies.size, 1);
  await assertLedgerSound(t.services.db);
});

test("an expired batch cannot be redeemed, and its liability goes to breakage", async () => {
  const c = await customer(t.app, m);
  const expiresAt = Date.now() + 3_000;
  const { id, cards } = await approvedBatch({
    count: 2,
    value: { amount: 100, currency: "GEMS" },
    expires_at: new Date(expiresAt).toISOString(),
  });
  await call(t.app, "POST", `/v1/voucher_batches/${id}/activate`, {
    key: m.secretKey,
    body: { serial_from: 1, serial_to: 2 },
  });
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 50)));
  assert.equal((await redeem(cards[0]!.code, c)).status, 400);
  await t.services.community.batches.recognizeBreakage(Date.now());
  const report = await call<{
    data: { batch: string; outstanding: number; breakage_recognized: number; closed: boolean }[];
  }>(t.app, "GET", "/v1/reports/voucher_liability", { key: m.secretKey });
  const line = report.body.data.find((l) => l.batch === id)!;
  assert.deepEqual([line.outstanding, line.breakage_recognized, line.closed], [0, 200, true]);
  await assertLedgerSound(t.services.db);
});

test("breakage is recognized in proportion to redemptions", async () => {
  const c = await customer(t.app, m);
  // Expected breakage 20%: each redeemed unit recognizes 0.2 / 0.8 = 0.25 units of breakage.
  const { id, cards } = await approvedBatch({
    count: 10,
    value: { amount: 100, currency: "GEMS" },
    breakage_rate: "0.2",
  });
  await call(t.app, "POST", `/v1/voucher_batches/${id}/activate`, {
    key: m.secretKey,
    body: { serial_from: 1, serial_to: 10 },
  });
  for (const card of cards.slice(0, 4)) assert.equal((await redeem(card.code, c)).status, 201);
  await t.services.community.batches.recognizeBreakage(Date.now());
  const report = await call<{ data: { batch: string; outstanding: number; breakage_recognized: number }[] }>(
    t.app,
    "GET",
    "/v1/reports/voucher_liability",
    { key: m.secretKey },
  );
  const line = report.body.data.find((l) => l.batch === id)!;
  assert.deepEqual([line.breakage_recognized, line.outstanding], [100, 1000 - 400 - 100]);
  await assertLedgerSound(t.services.db);
});

test("an entitlement card grants access", async () => {
  const c = await customer(t.app, m);
  const { id, cards } = await approvedBatch({ count: 1, value: { entitlement: "pro", period: "P30D" } });
  await call(t.app, "POST", `/v1/voucher_batches/${id}/activate`, {
    key: m.secretKey,
    body: { serial_from: 1, serial_to: 1 },
  });
  const r = await redeem(cards[0]!.code, c);
  assert.equal(r.status, 201, r.raw);
  const e = await call<{ data: { entitlement: string; active: boolean }[] }>(
    t.app,
    "GET",
    `/v1/customers/${c}/entitlements`,
    {
      key: m.secretKey,
    },
  );
  assert.deepEqual(
    e.body.data.map((x) => [x.entitlement, x.active]),
    [["pro", true]],
  );
});

test("50 concurrent redemptions of one code grant it once", async () => {
  const c = await customer(t.app, m);
  const { id, cards } = await approvedBatch({ count: 1, value: { amount: 700, currency: "GEMS" } });
  await call(t.app, "POST", `/v1/voucher_batches/${id}/activate`, {
    key: m.secretKey,
    body: { serial_from: 1, serial_to: 1 },
  });
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => redeem(cards[0]!.code, c, `10.9.0.${i}`)),
  );
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 201).length, 1);
  assert.ok(
    statuses.every((s) => s === 201 || s === 400 || s === 429),
    statuses.join(","),
  );
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 700);
  await assertLedgerSound(t.services.db);
});

test("brute force: 1,000 guesses from one IP and customer are throttled; a valid code is not revealed", async () => {
  const c = await customer(t.app, m);
  const { id, cards } = await approvedBatch({ count: 1, value: { amount: 100, currency: "GEMS" } });
  await call(t.app, "POST", `/v1/voucher_batches/${id}/activate`, {
    key: m.secretKey,
    body: { serial_from: 1, serial_to: 1 },
  });
  // Failures are counted in fixed 15-minute windows of the wall clock: the guesses (seconds) start
  // in a fresh enough window that none of them falls in the next one (CI once crossed 08:00:00).
  const leftMs = FAILURE_WINDOW_MS - (Date.now() % FAILURE_WINDOW_MS);
  if (leftMs < 90_000) await new Promise((resolve) => setTimeout(resolve, leftMs + 100));
  const statuses: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const payload = Array.from(
      { length: 15 },
      (_, k) => DEFAULT_ALPHABET[(i * 7 + k * 13) % DEFAULT_ALPHABET.length],
    ).join("");
    const guess = i % 2 === 0 ? payload + checkCharacter(payload, DEFAULT_ALPHABET) : `${payload}2`;
    statuses.push((await redeem(guess, c, "192.0.2.1")).status);
  }
  assert.deepEqual(statuses.slice(0, 5), [400, 400, 400, 400, 400]);
  assert.ok(statuses.slice(5).every((s) => s === 429));
  // Throttled, the valid code gets the same 429 as any guess: nothing about it leaks.
  const valid = await redeem(cards[0]!.code, c, "192.0.2.1");
  assert.equal(valid.status, 429);
  assert.ok(Number(valid.headers["retry-after"]) > 0);
  // Another customer on another address is not throttled, and still only one guess in ~10^22 hits.
  const other = await customer(t.app, m);
  assert.equal((await redeem(cards[0]!.code, other, "198.51.100.7")).status, 201);
  // The IP alone throttles too: a fresh customer from the guessing address is refused.
  assert.equal((await redeem(cards[0]!.code, await customer(t.app, m), "192.0.2.1")).status, 429);
});

test("timing: an unknown code and a known but unredeemable one take the same path", async () => {
  const { cards } = await approvedBatch({ count: 30, value: { amount: 100, currency: "GEMS" } }); // never activated
  const unknown: number[] = [];
  const known: number[] = [];
  for (let i = 0; i < 30; i++) {
    const payload = Array.from(
      { length: 15 },
      (_, k) => DEFAULT_ALPHABET[(i * 11 + k * 5) % DEFAULT_ALPHABET.length],
    ).join("");
    // Fresh customers and addresses: the throttle must not answer instead of the lookup.
    const [a, b] = [await customer(t.app, m), await customer(t.app, m)];
    let start = performance.now();
    assert.equal((await redeem(payload + checkCharacter(payload, DEFAULT_ALPHABET), a)).status, 400);
    unknown.push(performance.now() - start);
    start = performance.now();
    assert.equal((await redeem(cards[i]!.code, b)).status, 400);
    known.push(performance.now() - start);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const difference = Math.abs(median(known) - median(unknown));
  assert.ok(
    difference < Math.max(3, median(unknown) * 0.5),
    `medians ${median(known)} vs ${median(unknown)}`,
  );
});
