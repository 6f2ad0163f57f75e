/** Logs never carry keys, secrets, PINs or card numbers. */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "../../src/platform/log.ts";

test("secrets are redacted from structured logs", () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger("info", sink);
  logger.info(
    {
      req: { headers: { authorization: "Bearer sk_test_abcdefghijklmnopqrstuvwxyz0123456789AB" } },
      endpoint: { secret: "whsec_topsecret" },
      keys: { secret_key: "sk_live_x", publishable_key: "pk_live_y" },
      confirm: { pin: "1234" },
      card: { number: "4242424242424242", cvc: "123" },
    },
    "a request",
  );
  const text = lines.join("");
  for (const secret of [
    "sk_test_abcdef",
    "whsec_topsecret",
    "sk_live_x",
    "pk_live_y",
    '"1234"',
    "4242424242424242",
    '"123"',
  ]) {
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  }
  assert.match(text, /\[redacted\]/);
  assert.match(text, /"msg":"a request"/);
});
