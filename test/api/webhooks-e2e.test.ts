/**
 * A merchant's server hears about its payments: the platform on a real port delivers signed
 * Standard Webhooks to a local receiver, verified with the official `standardwebhooks` package.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { ADMIN_KEY } from "../support/app.ts";
import { eventually, http, type LiveServer, startLiveServer } from "../support/server.ts";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

let live: LiveServer;
const received: Received[] = [];
const receiver = createServer((req, res) => {
  let body = "";
  req.on("data", (chunk: Buffer) => {
    body += chunk.toString();
  });
  req.on("end", () => {
    received.push({ headers: req.headers, body });
    res.writeHead(200).end();
  });
});

before(async () => {
  process.env.CENTIME_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  live = await startLiveServer();
});
after(async () => {
  await live.close();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

test("payment events reach the merchant's endpoint, signed, each once per event id", async () => {
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Hooked",
  });
  const key = merchant.body.secret_key;
  const port = (receiver.address() as AddressInfo).port;
  const endpoint = await http<{ id: string; secret: string }>(
    live.url,
    "POST",
    "/v1/webhook_endpoints",
    key,
    {
      url: `http://127.0.0.1:${port}/hooks`,
      events: ["payment.succeeded", "payment.created"],
    },
  );
  assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
  assert.match(endpoint.body.secret, /^whsec_/);

  const payment = await http<{ id: string }>(live.url, "POST", "/v1/payments", key, {
    amount: 250,
    currency: "EUR",
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  assert.equal(payment.status, 201);

  const mine = await eventually(async () => {
    const hits = received.filter((r) => r.body.includes(payment.body.id));
    return hits.length >= 2 ? hits : undefined;
  });
  const verifier = new Webhook(endpoint.body.secret);
  const types = mine.map((hit) => {
    const event = verifier.verify(hit.body, {
      "webhook-id": String(hit.headers["webhook-id"]),
      "webhook-timestamp": String(hit.headers["webhook-timestamp"]),
      "webhook-signature": String(hit.headers["webhook-signature"]),
    }) as { id: string; type: string; data: { object: { id: string; status: string } } };
    assert.equal(hit.headers["webhook-id"], event.id, "webhook-id is the event id");
    assert.equal(event.data.object.id, payment.body.id);
    return event.type;
  });
  assert.deepEqual(types.sort(), ["payment.created", "payment.succeeded"]);

  const events = await http<{ data: Array<{ id: string; type: string }> }>(
    live.url,
    "GET",
    `/v1/events?object_id=${payment.body.id}`,
    key,
  );
  assert.deepEqual(events.body.data.map((e) => e.type).sort(), ["payment.created", "payment.succeeded"]);
  const attempts = await http<{ data: Array<{ status: string }> }>(
    live.url,
    "GET",
    `/v1/webhook_endpoints/${endpoint.body.id}/attempts`,
    key,
  );
  assert.ok(attempts.body.data.length >= 2);
});
