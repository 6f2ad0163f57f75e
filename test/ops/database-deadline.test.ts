/**
 * Without a database server to break (the fault tests in .ci/db-faults do that), the same
 * promises at the edge: a database that does not answer gets every request a 503 with
 * Retry-After within the request deadline and /ready a 503 within about a second; a lost
 * connection is a 503, never a 500; and the Idempotency-Key of a request answered 503 still works.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../../src/db/db.ts";
import { isDatabaseUnavailable } from "../../src/db/faults.ts";
import {
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";

const DEADLINE_MS = 1_500;
let t: TestApp;
let m: MerchantKeys;
let original: Pick<Db, "query" | "transaction">;

before(async () => {
  t = await createTestApp({ config: { requestDeadlineMs: DEADLINE_MS } });
  m = await createMerchant(t.app);
  original = {
    query: t.database.db.query.bind(t.database.db),
    transaction: t.database.db.transaction.bind(t.database.db),
  };
});
after(() => t.close());

function breakDatabase(how: "hang" | "lost"): () => void {
  const db = t.database.db as { query: Db["query"]; transaction: Db["transaction"] };
  const pending: Array<() => void> = [];
  const fail = () =>
    how === "hang"
      ? new Promise<never>((_, reject) =>
          pending.push(() => reject(new Error("the database did not answer"))),
        )
      : Promise.reject(
          Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }),
        );
  db.query = (() => fail()) as Db["query"];
  db.transaction = (() => fail()) as Db["transaction"];
  return () => {
    db.query = original.query;
    db.transaction = original.transaction;
    for (const release of pending) release();
  };
}

test("a database that does not answer: 503 with Retry-After within the deadline; /ready 503 within a second", async () => {
  const restore = breakDatabase("hang");
  try {
    const started = performance.now();
    const r = await call<{ error: { type: string; code: string; message: string } }>(
      t.app,
      "POST",
      "/v1/payments",
      {
        key: m.secretKey,
        body: sandboxPayment("approve"),
        headers: { "idempotency-key": "deadline-1" },
      },
    );
    const ms = performance.now() - started;
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "service_unavailable");
    assert.equal(r.body.error.type, "api_error");
    assert.match(r.body.error.message, /Idempotency-Key/);
    assert.ok(Number(r.headers["retry-after"]) >= 1, "Retry-After");
    assert.ok(ms >= DEADLINE_MS - 50 && ms < DEADLINE_MS + 1_500, `answered in ${Math.round(ms)} ms`);

    const readyStarted = performance.now();
    const ready = await call<{ status: string; database: { reachable: boolean } }>(t.app, "GET", "/ready");
    const readyMs = performance.now() - readyStarted;
    assert.equal(ready.status, 503);
    assert.equal(ready.body.database.reachable, false);
    assert.ok(readyMs < 1_000 + 500, `/ready answered in ${Math.round(readyMs)} ms`);
  } finally {
    restore();
  }
  // The key of the request answered 503 is still usable: retried as a client would (after
  // Retry-After, on a loaded machine perhaps more than once), it makes the payment once.
  let retry = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
    headers: { "idempotency-key": "deadline-1" },
  });
  for (let attempt = 0; retry.status === 503 && attempt < 5; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    retry = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: sandboxPayment("approve"),
      headers: { "idempotency-key": "deadline-1" },
    });
  }
  assert.equal(retry.status, 201, JSON.stringify(retry.body));
  assert.equal(retry.body.status, "succeeded");
  const again = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
    headers: { "idempotency-key": "deadline-1" },
  });
  assert.equal(again.body.id, retry.body.id);
  const { rows } = await t.database.db.query<{ n: bigint }>(
    "select count(*) as n from payments where merchant_id = $1",
    [m.merchantId],
  );
  assert.equal(rows[0]!.n, 1n, "one payment for the key");
  const ready = await call(t.app, "GET", "/ready");
  assert.equal(ready.status, 200);
});

test("a lost connection answers 503 with Retry-After, not 500", async () => {
  const restore = breakDatabase("lost");
  try {
    const r = await call<{ error: { code: string } }>(t.app, "GET", "/v1/payments", { key: m.secretKey });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "service_unavailable");
    assert.ok(r.headers["retry-after"]);
  } finally {
    restore();
  }
  assert.equal((await call(t.app, "GET", "/v1/payments", { key: m.secretKey })).status, 200);
});

test("which errors mean the database did not answer", () => {
  for (const error of [
    { code: "57P01" },
    { code: "08006" },
    { code: "ECONNREFUSED" },
    new Error("Connection terminated unexpectedly"),
    new Error("timeout exceeded when trying to connect"),
    new Error("Query read timeout"),
    Object.assign(new Error("wrapped"), { cause: { code: "57P03" } }),
  ]) {
    assert.ok(isDatabaseUnavailable(error), JSON.stringify(error) || String(error));
  }
  for (const error of [{ code: "23505" }, { code: "40001" }, new Error("invariant violated"), null, "x"]) {
    assert.equal(isDatabaseUnavailable(error), false, JSON.stringify(error));
  }
});
