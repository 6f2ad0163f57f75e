/**
 * Goal: the SDK's reusable pieces behave exactly: decimal money without floats, the circuit
 * breaker and token bucket on a driven clock, OAuth2 token caching, HMAC signatures, redaction,
 * CSV and fixed-width codecs, outcome checking.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { OAuth2ClientCredentials, signatureHeader, verifySignature } from "../../src/connectors/sdk/auth.ts";
import { Correlator } from "../../src/connectors/sdk/callbacks.ts";
import { readCsv, readFixed, writeCsv, writeFixed } from "../../src/connectors/sdk/files.ts";
import {
  fromDecimal,
  rawNumber,
  stringifyWithRawNumbers,
  toDecimal,
} from "../../src/connectors/sdk/money.ts";
import { checkedSuccess, declineFor } from "../../src/connectors/sdk/outcome.ts";
import { redactHeaders, redactText, redactValue } from "../../src/connectors/sdk/redact.ts";
import { CircuitBreaker, TokenBucket } from "../../src/connectors/sdk/resilience.ts";
import {
  parseRequestFile,
  parseResponseFile,
  sumDecimals,
  writeRequestFile,
  writeResponseFile,
} from "../../src/connectors/settlement/format.ts";
import { startTestSimulator } from "./support/fixtures.ts";

describe("money on the wire", () => {
  it("round-trips minor units through decimals for 0-, 2- and 3-digit currencies (property)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 999_999_999_999n }),
        fc.constantFrom("XOF", "EUR", "KWD", "IQD", "JPY"),
        (amount, currency) => {
          assert.equal(fromDecimal(toDecimal(amount, currency), currency), amount);
        },
      ),
      { seed: 1, numRuns: 500 },
    );
  });

  it("parses JSON numbers through their shortest decimal string and refuses excess precision", () => {
    assert.equal(fromDecimal(12.5, "EUR"), 1250n);
    assert.equal(fromDecimal(0.1, "EUR"), 10n);
    assert.equal(fromDecimal("1.005", "EUR"), undefined);
    assert.equal(fromDecimal("1.005", "KWD"), 1005n);
    assert.equal(fromDecimal("1e3", "EUR"), undefined);
    assert.equal(fromDecimal(Number.NaN, "EUR"), undefined);
    assert.equal(fromDecimal({}, "EUR"), undefined);
  });

  it("writes raw decimal numbers into JSON without passing through a float", () => {
    assert.equal(
      stringifyWithRawNumbers({ a: rawNumber("12345678901234.57"), b: "x" }),
      '{"a":12345678901234.57,"b":"x"}',
    );
  });

  it("sums settlement decimals exactly", () => {
    assert.equal(sumDecimals(["0.1", "0.2", "10"]), "10.3");
  });
});

describe("outcome checks", () => {
  const base = { provider_reference: "R", asked_amount: 500n, asked_currency: "ETB" };
  it("accepts a success only with the asked amount and currency", () => {
    assert.equal(
      checkedSuccess({ ...base, reported_amount: 500n, reported_currency: "ETB" }).status,
      "succeeded",
    );
    assert.deepEqual(checkedSuccess({ ...base, reported_amount: 499n, reported_currency: "ETB" }), {
      status: "unknown",
      reason: "amount_mismatch",
    });
    assert.deepEqual(checkedSuccess({ ...base, reported_amount: 500n, reported_currency: "USD" }), {
      status: "unknown",
      reason: "currency_mismatch",
    });
    assert.equal(
      checkedSuccess({
        ...base,
        reported_amount: 500n,
        reported_currency: "Birr",
        currencyAliases: { Birr: "ETB" },
      }).status,
      "succeeded",
    );
  });
  it("declines only for known codes", () => {
    assert.equal(declineFor("POL1000", {})?.category, "insufficient_funds");
    assert.equal(declineFor("POL1000", {})?.retryable, true);
    assert.equal(declineFor("X1", {}), undefined);
    assert.equal(declineFor("X1", { X1: { category: "barred" } })?.category, "barred");
  });
});

describe("resilience", () => {
  it("opens the breaker after consecutive failures, probes once after open_ms, closes on success", () => {
    let now = 0;
    const b = new CircuitBreaker({ failure_count_max: 3, open_ms: 1000 }, () => now);
    for (let i = 0; i < 3; i++) {
      assert.ok(b.tryAcquire());
      b.failure();
    }
    assert.equal(b.state, "open");
    assert.equal(b.tryAcquire(), false);
    now = 1000;
    assert.equal(b.state, "half_open");
    assert.equal(b.tryAcquire(), true);
    assert.equal(b.tryAcquire(), false, "one probe at a time");
    b.success();
    assert.equal(b.state, "closed");
  });

  it("limits a token bucket to its rate on a driven clock", () => {
    let now = 0;
    const t = new TokenBucket({ rate_per_s: 10, burst_max: 2 }, () => now);
    assert.ok(t.tryTake());
    assert.ok(t.tryTake());
    assert.equal(t.tryTake(), false);
    assert.equal(t.waitMs(), 100);
    now = 100;
    assert.ok(t.tryTake());
  });

  it("keeps a callback that arrives before anyone waits", async () => {
    const c = new Correlator();
    c.resolve("k", { status: "unknown", reason: "x" });
    assert.deepEqual(await c.wait("k", 10), { status: "unknown", reason: "x" });
    assert.equal(await c.wait("other", 1), undefined);
  });
});

describe("auth and redaction", () => {
  const simPromise = startTestSimulator(5);
  after(async () => (await simPromise).close());

  it("fetches one OAuth2 token for many concurrent calls and refreshes it before expiry", async () => {
    const sim = await simPromise;
    let now = Date.now();
    const auth = new OAuth2ClientCredentials(
      { token_url: `${sim.httpUrl}/oauth/token`, client_id: "centime", client_secret: "sandbox" },
      () => now,
    );
    const tokens = await Promise.all(Array.from({ length: 10 }, () => auth.accessToken()));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(auth.fetchCount, 1);
    now += 3_600_000 - 30_000;
    await auth.accessToken();
    assert.equal(auth.fetchCount, 2, "refreshed inside the margin before expires_in");
  });

  it("signs and verifies HMAC signatures, refusing tampering and stale timestamps", () => {
    const h = signatureHeader("k", "body", 1_700_000_000_000);
    assert.equal(verifySignature("k", h, "body", 1_700_000_000_000), "valid");
    assert.equal(verifySignature("k", h, "body!", 1_700_000_000_000), "mismatch");
    assert.equal(verifySignature("k", h, "body", 1_700_000_000_000 + 600_000), "expired");
    assert.equal(verifySignature("k", undefined, "body"), "missing");
    assert.equal(verifySignature("k", "nonsense", "body"), "malformed");
  });

  it("redacts authorization headers, passwords, tokens, PINs and card numbers", () => {
    // The scheme stays: the timeline shows whether Basic or Bearer was sent, never the secret.
    assert.deepEqual(redactHeaders({ Authorization: "Basic abc", "content-type": "x" }), {
      Authorization: "Basic [redacted]",
      "content-type": "x",
    });
    assert.deepEqual(redactHeaders({ authorization: "Bearer t0k", "x-api-key": "k" }), {
      authorization: "Bearer [redacted]",
      "x-api-key": "[redacted]",
    });
    assert.deepEqual(
      redactValue({ pin: "1234", card: { number: "4000000000000010", cvc: "1" }, amount: 5n }),
      { pin: "[redacted]", card: { number: "****0010", cvc: "[redacted]" }, amount: "5" },
    );
    const text = redactText(
      '<v2:spPassword>ABC</v2:spPassword><wsse:Password Type="x">d</wsse:Password>{"pin":"1234","access_token":"t"} password=p&x=1',
    );
    for (const secret of [">ABC<", ">d<", '"1234"', '"t"', "password=p"])
      assert.ok(!text.includes(secret), secret);
  });
});

describe("file codecs", () => {
  it("round-trips CSV with separators, quotes and newlines", () => {
    const rows = [
      ["a", 'b "q"', "c,d"],
      ["x\ny", ""],
    ];
    assert.deepEqual(readCsv(writeCsv(rows)), rows);
    assert.throws(() => readCsv('"open'));
  });

  it("round-trips fixed-width records and refuses wrong lengths", () => {
    const fields = [
      { name: "type", width: 1 },
      { name: "msisdn", width: 15 },
      { name: "amount", width: 10, align: "right" as const, pad: "0" },
    ];
    const line = writeFixed(fields, { type: "D", msisdn: "251911000010", amount: "1050" });
    assert.equal(line, "D251911000010   0000001050");
    assert.deepEqual(readFixed(fields, line), { type: "D", msisdn: "251911000010", amount: "1050" });
    assert.throws(() => readFixed(fields, `${line}X`));
  });

  it("writes settlement files whose trailers add up, and refuses ones that do not", () => {
    const req = writeRequestFile({
      sender: "centime",
      receiver: "41001",
      sequence: 1,
      created: new Date(0),
      lines: [
        { line_no: 1, msisdn: "+92300", amount: "1.5", currency: "PKR", reference: "a", description: "x" },
      ],
    });
    assert.equal(parseRequestFile(req).lines[0]?.reference, "a");
    const resp = writeResponseFile(
      {
        sender: "41001",
        receiver: "centime",
        sequence: 1,
        lines: [
          {
            line_no: 1,
            msisdn: "+92300",
            amount: "1.5",
            currency: "PKR",
            reference: "a",
            record_status: "SUCCESS",
            error_code: "",
          },
        ],
      },
      new Date(0),
    );
    assert.equal(parseResponseFile(resp).total_valid_rec_no, 1);
    assert.throws(() => parseResponseFile(resp.replace("T,1.5,1,1,0", "T,1.5,2,2,0")));
  });
});
