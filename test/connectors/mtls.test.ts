/**
 * Goal: a connector configured with a client certificate reaches an operator that demands mutual
 * TLS, and one without the certificate is refused without ever being treated as charged.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { it } from "node:test";
import { OneApiConnector } from "../../src/connectors/oneapi/index.ts";
import { getOperator } from "../../src/connectors/operators/index.ts";
import { MemoryLog } from "../../src/connectors/sdk/types.ts";

const dir = join(import.meta.dirname, "support", "tls");
const pem = (name: string) => readFileSync(join(dir, name), "utf8");

it("charges over mutual TLS with the configured client certificate and refuses without it", async () => {
  const seen: (string | undefined)[] = [];
  const server = createServer(
    {
      key: pem("server.key"),
      cert: pem("server.pem"),
      ca: pem("ca.pem"),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const cert = (req.socket as import("node:tls").TLSSocket).getPeerCertificate();
      seen.push(cert.subject?.CN);
      req.resume();
      req.on("end", () => {
        res.writeHead(201, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            amountTransaction: {
              serverReferenceCode: "TLS1",
              transactionOperationStatus: "Charged",
              paymentAmount: { chargingInformation: { amount: 5, currency: "BDT" }, totalAmountCharged: 5 },
            },
          }),
        );
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const input = {
    attempt_id: "mtls-1",
    msisdn: "+8801712340010",
    amount: 500n,
    currency: "BDT",
    description: "x",
  };
  try {
    const withCert = new OneApiConnector({
      operator: getOperator("47001")!,
      log: new MemoryLog(),
      http_url: url,
      tls: { cert: pem("client.pem"), key: pem("client.key"), ca: pem("ca.pem") },
    });
    const ok = await withCert.charge(input);
    assert.equal(ok.status, "succeeded");
    assert.deepEqual(seen, ["centime-client"]);
    const withoutCert = new OneApiConnector({
      operator: getOperator("47001")!,
      log: new MemoryLog(),
      http_url: url,
      tls: { ca: pem("ca.pem") },
    });
    const refused = await withoutCert.charge({ ...input, attempt_id: "mtls-2" });
    assert.ok(refused.status === "not_sent" || refused.status === "unknown", refused.status);
    assert.equal(seen.length, 1, "the request without a certificate never reached the application");
  } finally {
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  }
});
