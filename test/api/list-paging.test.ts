/**
 * Goal: every list of the API pages as the conventions say (shared/design/api.md): limit 1–100,
 * starting_after / ending_before, newest first, has_more, unknown parameters refused. For each
 * list below, limit=1 walks every row exactly once forward and backward, and limit=101 and ?foo=1
 * answer 400 naming the parameter. These lists once answered every row with has_more false.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PayerThrottle } from "../../src/payers/index.ts";
import { payerCall, signInWithCode } from "../payers/support.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

type Item = Record<string, unknown>;
type ListReply = { object: string; data: Item[]; has_more: boolean; error?: { code: string; param: string } };

let t: TestApp;
let m: MerchantKeys;
let payerToken: string;
const MSISDN = "+4915112349901";

const post = (url: string, body: unknown, key = m.secretKey) => call(t.app, "POST", url, { key, body });

/** GET a list as the caller of that list: the merchant's secret key, or the signed-in payer. */
async function getList(url: string, caller: "merchant" | "payer") {
  const r =
    caller === "payer"
      ? await payerCall<ListReply>(t.app, payerToken, "GET", url)
      : await call<ListReply>(t.app, "GET", url, { key: m.secretKey });
  return r;
}

interface ListCase {
  path: string;
  caller: "merchant" | "payer";
  /** What a cursor names: the id, or another natural key. */
  key: (item: Item) => string;
  /** Creates three objects of the list, oldest first; returns their keys (none for a catalogue). */
  make: () => Promise<string[]>;
}

async function created(url: string, body: unknown, key?: string) {
  const r = await post(url, body, key);
  assert.ok([200, 201, 202].includes(r.status), `${url}: ${JSON.stringify(r.body)}`);
  return r.body;
}

async function payment(amount: number) {
  const r = await created("/v1/payments", {
    amount,
    currency: "EUR",
    customer: customerId,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  return r.id as string;
}
let customerId: string;

const CASES: ListCase[] = [
  {
    path: "/v1/currencies",
    caller: "merchant",
    key: (c) => c.id as string,
    make: async () => {
      // Newest first (MIDL, ZETA, ALFA) is neither alphabetical nor its reverse.
      const codes = ["ALFA", "ZETA", "MIDL"];
      for (const code of codes) {
        await created("/v1/currencies", { code, name: code, minor_digits: 0 });
        // A currency's place is its creation time (to the millisecond), then its code.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return codes;
    },
  },
  {
    path: "/v1/exchange_rates",
    caller: "merchant",
    key: (r) => r.id as string,
    make: async () => {
      const ids: string[] = [];
      for (const rate of ["1.1", "1.2", "1.3"]) {
        ids.push((await created("/v1/exchange_rates", { from: "EUR", to: "USD", rate })).id as string);
      }
      return ids;
    },
  },
  {
    path: "/v1/api_keys",
    caller: "merchant",
    key: (k) => k.id as string,
    make: async () => {
      const ids: string[] = [];
      for (const name of ["a", "b", "c"]) {
        const body = (await created("/v1/api_keys", { type: "secret", name })) as { id: string };
        ids.push(body.id);
      }
      return ids;
    },
  },
  {
    path: "/v1/staff",
    caller: "merchant",
    key: (s) => s.id as string,
    make: async () => {
      const ids: string[] = [];
      for (const name of ["ann", "bob", "cat"]) {
        const body = await created("/v1/staff", { email: `${name}@studio.example`, role: "support" });
        ids.push((body.staff as { id: string }).id);
      }
      return ids;
    },
  },
  {
    path: "/v1/dunning_policies",
    caller: "merchant",
    key: (p) => p.id as string,
    make: async () => {
      const ids: string[] = [];
      for (const operator of ["20801", "20810", "26201"]) {
        ids.push((await created("/v1/dunning_policies", { operator, retry_days_max: 3 })).id as string);
      }
      return ids;
    },
  },
  {
    path: "/v1/roles",
    caller: "merchant",
    key: (r) => r.id as string,
    make: async () => {
      const ids: string[] = [];
      for (const name of ["readers", "auditors", "clerks"]) {
        ids.push((await created("/v1/roles", { name, permissions: ["payment:read"] })).id as string);
      }
      return ids;
    },
  },
  {
    path: "/v1/approvals",
    caller: "merchant",
    key: (a) => a.id as string,
    make: async () => {
      const ids: string[] = [];
      for (const amount of [10, 20, 30]) {
        const body = { currency: "EUR", amount, direction: "credit", reason: "paging" };
        ids.push((await created("/v1/ledger/adjustments", body)).id as string);
      }
      return ids;
    },
  },
  {
    path: "/v1/permissions",
    caller: "merchant",
    key: (p) => p.name as string,
    make: async () => [],
  },
  {
    path: "/v1/payer/refund_requests",
    caller: "payer",
    key: (r) => r.id as string,
    make: async () => {
      const ids: string[] = [];
      for (const amount of [1000, 1100, 1200]) {
        const paid = await payment(amount);
        const r = await payerCall<{ id: string }>(t.app, payerToken, "POST", "/v1/payer/refund_requests", {
          payment: paid,
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        ids.push(r.body.id);
      }
      return ids;
    },
  },
];

before(async () => {
  t = await createTestApp();
  t.services.payers.ctx.throttle = new PayerThrottle();
  m = await createMerchant(t.app, "Paging studio");
  customerId = (await created("/v1/customers", { msisdn: MSISDN, country: "DE" })).id as string;
  payerToken = (await signInWithCode(t.app, { msisdn: MSISDN })).token;
});
after(() => t.close());

/** Follows one cursor with limit=1 until has_more is false; the keys in list order. */
async function walk(
  c: ListCase,
  cursor: "starting_after" | "ending_before",
  from: string,
): Promise<string[]> {
  const keys: string[] = [];
  let at = from;
  for (let more = true; more; ) {
    const r = await getList(`${c.path}?limit=1&${cursor}=${encodeURIComponent(at)}`, c.caller);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.data.length, 1, `${cursor}=${at}: one row while has_more was true`);
    at = c.key(r.body.data[0] as Item);
    keys.push(at);
    more = r.body.has_more;
    assert.ok(keys.length <= 200, "the walk ends");
  }
  return cursor === "starting_after" ? keys : keys.reverse();
}

for (const c of CASES) {
  describe(`GET ${c.path}`, () => {
    let made: string[] = [];
    let all: string[] = [];

    before(async () => {
      made = await c.make();
      const r = await getList(`${c.path}?limit=100`, c.caller);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.object, "list");
      assert.equal(r.body.has_more, false);
      all = r.body.data.map(c.key);
      assert.ok(all.length >= 3, `at least three rows, got ${all.length}`);
    });

    test("newest first; the default page is 10 rows or fewer, has_more saying whether more follow", async () => {
      const mine = all.filter((key) => made.includes(key));
      assert.deepEqual(mine, [...made].reverse(), "the objects made here, newest first");
      const r = await getList(c.path, c.caller);
      assert.deepEqual(r.body.data.map(c.key), all.slice(0, 10));
      assert.equal(r.body.has_more, all.length > 10);
    });

    test("limit=1 walks every row exactly once, forward and backward", async () => {
      const first = await getList(`${c.path}?limit=1`, c.caller);
      assert.equal(first.status, 200);
      assert.deepEqual(first.body.data.map(c.key), all.slice(0, 1));
      assert.equal(first.body.has_more, true);
      const forward = [all[0] as string, ...(await walk(c, "starting_after", all[0] as string))];
      assert.deepEqual(forward, all);
      const last = all[all.length - 1] as string;
      const backward = [...(await walk(c, "ending_before", last)), last];
      assert.deepEqual(backward, all);
    });

    test("limit=101, limit=0 and an unknown parameter answer 400 naming the parameter", async () => {
      for (const [query, param] of [
        ["limit=101", "limit"],
        ["limit=0", "limit"],
        ["foo=1", "foo"],
      ] as const) {
        const r = await getList(`${c.path}?${query}`, c.caller);
        assert.equal(r.status, 400, `${query}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error?.param, param, query);
      }
      const r = await getList(`${c.path}?foo=1`, c.caller);
      assert.equal(r.body.error?.code, "parameter_unknown");
    });

    test("a cursor that names nothing of the list answers 400 naming it", async () => {
      for (const cursor of ["starting_after", "ending_before"]) {
        const r = await getList(`${c.path}?${cursor}=${encodeURIComponent("no such thing")}`, c.caller);
        assert.equal(r.status, 400, `${cursor}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error?.param, cursor);
      }
    });
  });
}

test("the platform's staff list pages over every team", async () => {
  const r = await call<ListReply>(t.app, "GET", "/v1/staff?limit=1", { key: ADMIN_KEY });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.data.length, 1);
  assert.equal(r.body.has_more, true);
});
