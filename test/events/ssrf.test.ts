/**
 * Goal: webhook delivery never reaches a private, loopback, link-local, CGNAT or IPv4-mapped
 * address, however it is written or whatever a name resolves to at connect time, and never
 * follows a redirect. CENTIME_WEBHOOK_ALLOWED_HOSTS lets named hosts through, by name only.
 */
import assert from "node:assert/strict";
import type { LookupAddress } from "node:dns";
import { after, before, describe, test } from "node:test";
import { runDeliveryPass } from "../../src/events/delivery.ts";
import { createWebhookEndpoint, listWebhookAttempts } from "../../src/events/endpoints.ts";
import { postWebhook } from "../../src/events/sender.ts";
import {
  checkEndpointUrl,
  isBlockedAddress,
  parseAllowedHosts,
  type Resolver,
} from "../../src/events/ssrf.ts";
import { FakeClock } from "../../src/platform/clock.ts";
import { ApiError } from "../../src/platform/errors.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import { newScope, paymentEvent, type Receiver, startReceiver, testTransport } from "./support.ts";

/** A DNS that answers from a table, as an attacker's name server would. */
function fakeDns(table: Record<string, string[]>): Resolver {
  return async (hostname) => {
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`no such host ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address): LookupAddress => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
}

describe("address classification", () => {
  const blocked = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "febf::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:8.8.8.8",
    "[::ffff:169.254.169.254]",
    "::127.0.0.1",
    "64:ff9b::a00:1",
    "2002:7f00:1::1",
    "ff02::1",
    "not an address",
  ];
  const allowed = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.1",
    "172.32.0.1",
    "2606:4700::1111",
    "2a00:1450::1",
  ];
  for (const address of blocked)
    test(`${address} is refused`, () => assert.equal(isBlockedAddress(address), true));
  for (const address of allowed)
    test(`${address} is public`, () => assert.equal(isBlockedAddress(address), false));
});

describe("endpoint URLs when saved", () => {
  const none = parseAllowedHosts("");
  test("https is required in live mode, http is fine in test mode", () => {
    assert.equal(checkEndpointUrl("http://hooks.example.com/x", "live", none), "https_required");
    assert.equal(checkEndpointUrl("https://hooks.example.com/x", "live", none), undefined);
    assert.equal(checkEndpointUrl("http://hooks.example.com/x", "test", none), undefined);
  });
  test("other schemes, credentials and private literals are refused", () => {
    assert.equal(checkEndpointUrl("ftp://hooks.example.com/", "test", none), "scheme");
    assert.equal(checkEndpointUrl("not a url", "test", none), "invalid");
    assert.equal(checkEndpointUrl("https://user:pw@hooks.example.com/", "test", none), "credentials");
    for (const url of [
      "http://127.0.0.1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::ffff:127.0.0.1]/",
      "http://2130706433/",
      "http://0x7f.0.0.1/",
      "http://0177.0.0.1/",
      "http://[::1]/",
      "http://100.64.0.1/",
    ]) {
      assert.equal(checkEndpointUrl(url, "test", none), "address_blocked", url);
    }
    assert.equal(
      checkEndpointUrl("http://127.0.0.1:8080/", "test", parseAllowedHosts("127.0.0.1")),
      undefined,
    );
  });
});

describe("delivery refuses non-public destinations", () => {
  let receiver: Receiver;
  let database: TestDatabase;
  const clock = new FakeClock();
  before(async () => {
    receiver = await startReceiver();
    database = await openTestDatabase();
  });
  after(async () => {
    await receiver.close();
    await database.close();
  });

  async function send(url: string, options: { allowed?: string; resolver?: Resolver } = {}) {
    const transport = testTransport({
      allowed: options.allowed ?? "",
      ...(options.resolver ? { resolver: options.resolver } : {}),
    });
    try {
      return await postWebhook(url, {}, "{}", transport);
    } finally {
      transport.close();
    }
  }

  test("loopback, metadata, IPv4-mapped and encoded addresses never get a request", async () => {
    const port = receiver.port;
    for (const url of [
      `http://127.0.0.1:${port}/`,
      "http://169.254.169.254/latest/meta-data/",
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://2130706433:${port}/`,
      `http://0x7f000001:${port}/`,
      `http://017700000001:${port}/`,
      `http://[::1]:${port}/`,
    ]) {
      const result = await send(url);
      assert.equal(result.error, "address_blocked", url);
      assert.equal(result.status, undefined);
    }
    assert.equal(receiver.received.length, 0);
  });

  test("a host name that resolves to a private address is refused at connect time", async () => {
    const port = receiver.port;
    // localhost through the system resolver.
    assert.equal((await send(`http://localhost:${port}/`)).error, "address_blocked");
    // A name whose DNS answers a private address, or a public and a private one (rebinding).
    const dns = fakeDns({
      "rebind.example": ["127.0.0.1"],
      "mixed.example": ["8.8.8.8", "127.0.0.1"],
      "cloud.example": ["169.254.169.254"],
    });
    for (const host of ["rebind.example", "mixed.example", "cloud.example"]) {
      assert.equal((await send(`http://${host}:${port}/`, { resolver: dns })).error, "address_blocked", host);
    }
    assert.equal(receiver.received.length, 0);
    // Control: the same name, allowed by name, does reach the receiver, so the guard is what stopped it.
    const allowedResult = await send(`http://rebind.example:${port}/`, {
      resolver: dns,
      allowed: "rebind.example",
    });
    assert.equal(allowedResult.status, 204);
    assert.equal(receiver.received.length, 1);
    receiver.received.length = 0;
  });

  test("the allow-list matches the host as written, not what a name resolves to", async () => {
    const port = receiver.port;
    const dns = fakeDns({ "evil.example": ["127.0.0.1"] });
    assert.equal(
      (await send(`http://evil.example:${port}/`, { resolver: dns, allowed: "127.0.0.1" })).error,
      "address_blocked",
    );
    assert.equal((await send(`http://127.0.0.1:${port}/`, { allowed: "127.0.0.1" })).status, 204);
    receiver.received.length = 0;
  });

  test("a redirect to a private address is not followed", async () => {
    const target = await startReceiver();
    receiver.respond((_request, response) => {
      response.statusCode = 302;
      response.setHeader("location", "http://169.254.169.254/latest/meta-data/");
      response.end();
    });
    try {
      const result = await send(`${receiver.url}`, { allowed: "127.0.0.1" });
      assert.equal(result.status, 302);
      // Nor to a local one.
      receiver.respond((_request, response) => {
        response.statusCode = 301;
        response.setHeader("location", target.url);
        response.end();
      });
      assert.equal((await send(receiver.url, { allowed: "127.0.0.1" })).status, 301);
      assert.equal(target.received.length, 0);
    } finally {
      receiver.respond((_request, response) => {
        response.statusCode = 204;
        response.end();
      });
      await target.close();
      receiver.received.length = 0;
    }
  });

  test("end to end: a private endpoint is refused when saved, a rebinding name when delivered", async () => {
    const scope = newScope();
    const deps = { db: database.db, clock, allowedHosts: parseAllowedHosts("") };
    await assert.rejects(
      createWebhookEndpoint(deps, scope, { url: "http://169.254.169.254/", events: ["*"] }),
      (error: unknown) =>
        error instanceof ApiError && error.code === "parameter_invalid" && error.param === "url",
    );
    await assert.rejects(
      createWebhookEndpoint({ ...deps }, newScope("live"), {
        url: "http://hooks.example.com/",
        events: ["*"],
      }),
      (error: unknown) => error instanceof ApiError && error.param === "url",
    );
    // The name looks harmless when saved; at delivery it resolves to loopback.
    const endpoint = await createWebhookEndpoint(deps, scope, {
      url: `http://hooks.rebind.example:${receiver.port}/`,
      events: ["*"],
    });
    await paymentEvent(database.db, scope, clock);
    const transport = testTransport({
      allowed: "",
      resolver: fakeDns({ "hooks.rebind.example": ["127.0.0.1"] }),
    });
    try {
      assert.equal(await runDeliveryPass({ db: database.db, clock, transport }), 1);
    } finally {
      transport.close();
    }
    const [attempt] = (await listWebhookAttempts(deps, scope, endpoint.id, {}, {})).data;
    assert.equal(attempt?.error, "address_blocked");
    assert.equal(attempt?.status, "failed");
    assert.equal(receiver.received.length, 0);
  });
});
