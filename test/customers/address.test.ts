/**
 * Customers' postal addresses (issue 12): the API validates them (a 4xx naming the field), stores
 * and returns them (create, change, clear), and the back office lays them out as each country
 * writes addresses (unit checks of the formatter for FR, US, GB, JP, DE, RO, IT).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { formatAddress } from "../../src/customers/index.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;
let other: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
  other = await createMerchant(t.app, "Other studio");
});
after(() => t.close());

type Err = { error: { code: string; param: string } };
type Customer = { id: string; address: Record<string, string> | null; metadata: Record<string, string> };

const PARIS = {
  line1: " 12  rue de la Paix ",
  line2: "Bâtiment B",
  city: "Paris",
  postal_code: "75002",
  country: "FR",
};

describe("the API", () => {
  test("an address is stored trimmed and returned on create, get and list", async () => {
    const created = await call<Customer>(t.app, "POST", "/v1/customers", {
      key: m.secretKey,
      body: { email: "ana@example.org", address: PARIS },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const expected = {
      line1: "12 rue de la Paix",
      line2: "Bâtiment B",
      city: "Paris",
      postal_code: "75002",
      country: "FR",
    };
    assert.deepEqual(created.body.address, expected);
    const got = await call<Customer>(t.app, "GET", `/v1/customers/${created.body.id}`, { key: m.secretKey });
    assert.deepEqual(got.body.address, expected);
    const listed = await call<{ data: Customer[] }>(t.app, "GET", "/v1/customers", { key: m.secretKey });
    assert.deepEqual(listed.body.data.find((c) => c.id === created.body.id)?.address, expected);
    const none = await call<Customer>(t.app, "POST", "/v1/customers", { key: m.secretKey, body: {} });
    assert.equal(none.body.address, null);
  });

  test("POST /v1/customers/:id sets, replaces and clears the address; other fields stay", async () => {
    const created = await call<Customer>(t.app, "POST", "/v1/customers", {
      key: m.secretKey,
      body: { email: "bo@example.org", metadata: { name: "Bo", tier: "gold" } },
    });
    const id = created.body.id;
    const us = {
      line1: "1600 Amphitheatre Pkwy",
      city: "Mountain View",
      region: "CA",
      postal_code: "94043",
      country: "US",
    };
    const set = await call<Customer & { email: string }>(t.app, "POST", `/v1/customers/${id}`, {
      key: m.secretKey,
      body: { address: us, metadata: { tier: "" } },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.address, us);
    assert.equal(set.body.email, "bo@example.org");
    assert.deepEqual(set.body.metadata, { name: "Bo" });
    const read = await call<Customer>(t.app, "GET", `/v1/customers/${id}`, { key: m.secretKey });
    assert.deepEqual(read.body.address, us);
    assert.deepEqual(read.body.metadata, { name: "Bo" });
    const cleared = await call<Customer>(t.app, "POST", `/v1/customers/${id}`, {
      key: m.secretKey,
      body: { address: null },
    });
    assert.equal(cleared.body.address, null);
    assert.equal(
      (await call<Customer>(t.app, "GET", `/v1/customers/${id}`, { key: m.secretKey })).body.address,
      null,
    );
    // Another merchant's key does not reach it.
    const theirs = await call<Err>(t.app, "POST", `/v1/customers/${id}`, {
      key: other.secretKey,
      body: { address: us },
    });
    assert.equal(theirs.status, 404);
  });

  test("bad addresses: 400 naming the field, nothing stored", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ line1: "1 Main St", city: "Springfield", country: "ZZ" }, "address.country"],
      [{ line1: "1 Main St", city: "Springfield", country: "us" }, "address.country"],
      [{ city: "Springfield", country: "US" }, "address.line1"],
      [{ line1: "   ", city: "Springfield", country: "US" }, "address.line1"],
      [{ line1: "1 Main St", country: "US" }, "address.city"],
      [
        { line1: "1 Main St", city: "Springfield", country: "US", postal_code: "12<3>" },
        "address.postal_code",
      ],
      [{ line1: "1 Main St", city: "Springfield", country: "US", street: "x" }, "address.street"],
    ];
    for (const [address, param] of cases) {
      const reply = await call<Err>(t.app, "POST", "/v1/customers", { key: m.secretKey, body: { address } });
      assert.equal(reply.status, 400, `${JSON.stringify(address)}: ${reply.status}`);
      assert.equal(reply.body.error.param, param, JSON.stringify(reply.body));
      const missing = !("line1" in address) || !("city" in address);
      const unknown = "street" in address;
      assert.equal(
        reply.body.error.code,
        missing ? "parameter_missing" : unknown ? "parameter_unknown" : "parameter_invalid",
      );
    }
    const created = await call<Customer>(t.app, "POST", "/v1/customers", { key: m.secretKey, body: {} });
    const update = await call<Err>(t.app, "POST", `/v1/customers/${created.body.id}`, {
      key: m.secretKey,
      body: { address: { line1: "x", city: "y", country: "XX" } },
    });
    assert.equal(update.status, 400);
    assert.equal(update.body.error.param, "address.country");
    const after = await call<Customer>(t.app, "GET", `/v1/customers/${created.body.id}`, {
      key: m.secretKey,
    });
    assert.equal(after.body.address, null);
  });
});

describe("formatting as each country writes addresses", () => {
  test("France: postal code before the town, the town in capitals, the flat under the street", () => {
    assert.deepEqual(
      formatAddress(
        {
          line1: "12 rue de la Paix",
          line2: "Bâtiment B",
          city: "Paris",
          postal_code: "75002",
          country: "FR",
        },
        "fr",
      ),
      ["12 rue de la Paix", "Bâtiment B", "75002 PARIS", "France"],
    );
  });
  test("United States: town, state and ZIP code on one line", () => {
    assert.deepEqual(
      formatAddress(
        {
          line1: "1600 Amphitheatre Pkwy",
          city: "Mountain View",
          region: "CA",
          postal_code: "94043",
          country: "US",
        },
        "en",
      ),
      ["1600 Amphitheatre Pkwy", "Mountain View, CA 94043", "United States"],
    );
  });
  test("United Kingdom: the post town in capitals, the postcode on its own line; country in French", () => {
    assert.deepEqual(
      formatAddress(
        { line1: "10 Downing Street", city: "London", postal_code: "SW1A 2AA", country: "GB" },
        "fr",
      ),
      ["10 Downing Street", "LONDON", "SW1A 2AA", "Royaume-Uni"],
    );
  });
  test("Japan (Latin script): ward, prefecture and postal code", () => {
    assert.deepEqual(
      formatAddress(
        { line1: "1-1 Chiyoda", city: "Chiyoda-ku", region: "Tokyo", postal_code: "100-8111", country: "JP" },
        "en",
      ),
      ["1-1 Chiyoda", "Chiyoda-ku, Tokyo 100-8111", "Japan"],
    );
  });
  test("Japan (Japanese script): from the prefecture down, 〒 before the postal code", () => {
    assert.deepEqual(
      formatAddress(
        {
          line1: "千代田1-1",
          line2: "宮内庁",
          city: "千代田区",
          region: "東京都",
          postal_code: "100-8111",
          country: "JP",
        },
        "ja",
      ),
      ["〒100-8111", "東京都千代田区", "千代田1-1", "宮内庁", "日本"],
    );
  });
  test("Germany and Romania: postal code before the town, not in capitals; a county is kept", () => {
    assert.deepEqual(
      formatAddress(
        { line1: "Unter den Linden 77", city: "Berlin", postal_code: "10117", country: "DE" },
        "en",
      ),
      ["Unter den Linden 77", "10117 Berlin", "Germany"],
    );
    assert.deepEqual(
      formatAddress(
        {
          line1: "Strada Memorandumului 21",
          city: "Cluj-Napoca",
          region: "Cluj",
          postal_code: "400114",
          country: "RO",
        },
        "fr",
      ),
      ["Strada Memorandumului 21", "400114 Cluj-Napoca", "Cluj", "Roumanie"],
    );
  });
});
