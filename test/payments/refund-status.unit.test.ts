/**
 * A provider's refund answer names the reason of every decline: the type makes a decline without
 * a code unrepresentable (so settling a refund invents no `failure_code`), and the connectors'
 * outcomes map to refund states with the connector's own decline category as the code.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RefundAnswer, RefundStatus } from "../../src/payments/provider.ts";
import { refundStatus } from "../../src/payments/providers/outcomes.ts";

test("a refund decline without a code does not compile; the other states may omit it", () => {
  // @ts-expect-error A decline must say why: `code` is required when the status is "failed".
  const noCode: RefundAnswer = { status: "failed", interactions: [] };
  const declined: RefundAnswer = { status: "failed", code: "refund_declined", interactions: [] };
  const pending: RefundStatus = { status: "pending" };
  const unknown: RefundStatus = { status: "unknown", code: "error" };
  assert.equal(noCode.status, "failed");
  assert.deepEqual([declined.code, pending.code, unknown.code], ["refund_declined", undefined, "error"]);
});

test("a connector's refund outcome: a decline's category is the refund's failure code", () => {
  assert.deepEqual(
    refundStatus(
      { status: "declined", category: "insufficient_funds", code: "POL1000", retryable: true },
      "refund",
    ),
    { status: "failed", code: "insufficient_funds" },
  );
  assert.deepEqual(
    refundStatus({ status: "succeeded", provider_reference: "op_9", amount: 100n, currency: "EUR" }, "sync"),
    { status: "succeeded", reference: "op_9" },
  );
  assert.deepEqual(refundStatus({ status: "pending", via: "poll" }, "refund"), { status: "pending" });
  assert.deepEqual(refundStatus({ status: "unknown", reason: "timeout" }, "refund"), {
    status: "unknown",
  });
});

test("a refund never sent fails at once (provider_unavailable); a status never asked stays unknown", () => {
  assert.deepEqual(refundStatus({ status: "not_sent", reason: "circuit_open" }, "refund"), {
    status: "failed",
    code: "provider_unavailable",
  });
  assert.deepEqual(refundStatus({ status: "not_sent", reason: "circuit_open" }, "sync"), {
    status: "unknown",
  });
});
