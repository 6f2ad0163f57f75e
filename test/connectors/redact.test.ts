/**
 * Goal: the interaction log shows the wire faithfully. Redaction replaces secret values (JSON by
 * key, parameters by name, XML elements by name, the credentials after an Authorization scheme)
 * and changes nothing else: a recorded body is the wire body apart from redacted values.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  configureCarrierNetwork,
  createConnector,
  getOperator,
} from "../../src/connectors/operators/index.ts";
import { isSecretKey, REDACTED, redactText } from "../../src/connectors/sdk/redact.ts";
import { MemoryLog } from "../../src/connectors/sdk/types.ts";
import { startSimulator, type WireExchange } from "../../src/simulator/index.ts";

/** The wire value with every secret member replaced, as the log must show it. */
function expectedRedaction(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expectedRedaction);
  if (value && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, isSecretKey(k) ? REDACTED : expectedRedaction(v)]),
    );
  if (typeof value === "string") return value.replace(/([?&]token=)[^&#]*/g, `$1${REDACTED}`);
  return value;
}

describe("redaction keeps the body's structure", () => {
  it("any JSON: the redacted text parses, and equals the original apart from secret values", () => {
    const key = fc.oneof(
      fc.constantFrom("password", "accessToken", "pin", "client_secret", "amount", "notifyURL"),
      fc.string(),
    );
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.string(),
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(key, tie("value"), { maxKeys: 5 }),
      ),
    })).value;
    fc.assert(
      fc.property(json, fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        const redacted = redactText(text);
        assert.deepEqual(JSON.parse(redacted), expectedRedaction(JSON.parse(text)));
      }),
      { numRuns: 300, seed: 16 },
    );
  });

  it("a callback URL's token is redacted inside a JSON string and the closing of the body survives", () => {
    const body = '{"amountTransaction":{"callbackURL":"http://x/cb/1?token=abc&n=1"}}';
    assert.equal(
      redactText(body),
      '{"amountTransaction":{"callbackURL":"http://x/cb/1?token=[redacted]&n=1"}}',
    );
  });

  it("every recorded request body is the wire body apart from redacted values", async () => {
    const wire: WireExchange[] = [];
    const sim = await startSimulator({ seed: 9, instant: true, wiretap: (e) => wire.push(e) });
    configureCarrierNetwork({ http_url: sim.httpUrl });
    try {
      for (const id of ["20801", "47001", "60202"]) {
        const log = new MemoryLog();
        const c = createConnector(getOperator(id)!, {
          log,
          callback_url: "https://merchant.example/provider_callbacks",
          callback_secret: "s",
        });
        const operator = getOperator(id)!;
        const msisdn = id === "20801" ? "+33612000010" : id === "47001" ? "+8801712000010" : "+201001200010";
        await c.charge({
          attempt_id: `w-${id}`,
          msisdn,
          amount: 500n,
          currency: operator.currency,
          description: "Coins",
        });
        await c.close();
        const logged = log.entries.filter((e) => e.operation === "charge" || e.operation === "token");
        assert.ok(logged.length > 0);
        for (const entry of logged) {
          const request = entry.request as { url: string; body?: string; headers: Record<string, string> };
          const path = new URL(request.url).pathname + new URL(request.url).search;
          const sent = wire.find((w) => w.direction === "served" && w.url === path && w.body.length > 0);
          assert.ok(sent, `the wire exchange of ${path}`);
          const recorded = request.body ?? "";
          if (sent.headers["content-type"]?.includes("json")) {
            assert.deepEqual(JSON.parse(recorded), expectedRedaction(JSON.parse(sent.body)));
          } else {
            // XML or form: the same text once the redacted values are put back in their places.
            const pattern = new RegExp(
              `^${recorded.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replaceAll("\\[redacted\\]", "[^<&]*")}$`,
            );
            assert.match(sent.body, pattern);
          }
          // The scheme is kept: the timeline shows how the call was authenticated.
          const scheme = sent.headers.authorization?.split(" ")[0];
          if (scheme) assert.equal(request.headers.authorization, `${scheme} ${REDACTED}`);
        }
      }
    } finally {
      await sim.close();
    }
  });
});
