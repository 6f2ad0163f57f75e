/**
 * A request's hash is what a retry with the same Idempotency-Key is compared with, and it is
 * stored: its text must not change from one version to the next (a retry across a deploy would
 * otherwise be refused as another request), and key order must not matter.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { requestHash } from "../../src/idempotency/store.ts";

test("the hash is SHA-256 of the method, the path and the body with its keys sorted at every depth", () => {
  const body = {
    payment_method: { type: "sandbox", scenario: "approve" },
    amount: 199,
    metadata: { b: "2", a: [1, null] },
  };
  const text =
    'POST /v1/payments\n{"amount":199,"metadata":{"a":[1,null],"b":"2"},"payment_method":{"scenario":"approve","type":"sandbox"}}';
  assert.equal(requestHash("POST", "/v1/payments", body), createHash("sha256").update(text).digest("hex"));
  const reordered = {
    amount: 199,
    metadata: { a: [1, null], b: "2" },
    payment_method: { scenario: "approve", type: "sandbox" },
  };
  assert.equal(requestHash("POST", "/v1/payments", reordered), requestHash("POST", "/v1/payments", body));
  assert.notEqual(
    requestHash("POST", "/v1/payments", { ...body, amount: 200 }),
    requestHash("POST", "/v1/payments", body),
  );
  // No body is the empty object.
  assert.equal(
    requestHash("POST", "/v1/refunds", undefined),
    createHash("sha256").update("POST /v1/refunds\n{}").digest("hex"),
  );
});
