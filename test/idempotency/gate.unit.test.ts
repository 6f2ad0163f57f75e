/**
 * The idempotency gate's decisions, fast (no database: a stored-responses table in memory stands
 * in for `idempotency_keys`; the API tests prove the same against both engines). Written for
 * mutation testing of src/idempotency/gate.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Db } from "../../src/db/db.ts";
import { IdempotencyConflict, IdempotencyGate } from "../../src/idempotency/index.ts";
import { ApiError } from "../../src/platform/errors.ts";

interface Stored {
  request_hash: string;
  status_code: number | null;
  response_body: string | null;
  expires_at: Date;
}

function fakeDb(rows: Map<string, Stored>, seen: { params?: unknown[] } = {}): Db {
  return {
    async query(_sql: string, params: unknown[]) {
      seen.params = params;
      const [merchant, mode, key, now] = params as [string, string, string, Date];
      const row = rows.get(`${merchant}/${mode}/${key}`);
      return { rows: row && row.expires_at > now ? [row] : [] };
    },
  } as unknown as Db;
}

const clock = { nowMs: () => Date.parse("2026-03-01T10:00:00Z") };
const scope = { merchantId: "mer_1", mode: "test" };
const request = (header: string | undefined, body: unknown = { amount: 100 }) => ({
  method: "POST",
  path: "/v1/payments",
  body,
  header,
});
const ok = async () => ({ statusCode: 201, body: '{"id":"pay_1"}' });

function apiError(code: string, param = "Idempotency-Key") {
  return (error: unknown) => {
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.param, param);
    return true;
  };
}

/** The request hash the gate computes: what a first request stored. */
async function hashOf(body: unknown): Promise<string> {
  let hash = "";
  await new IdempotencyGate(fakeDb(new Map()), clock).run(scope, request("k", body), async (ctx) => {
    hash = ctx!.requestHash;
    return ok();
  });
  return hash;
}

test("no key: the request runs without an idempotency context and is not a replay", async () => {
  const gate = new IdempotencyGate(fakeDb(new Map()), clock);
  let context: unknown = "unset";
  const r = await gate.run(scope, request(undefined), async (ctx) => {
    context = ctx;
    return ok();
  });
  assert.equal(context, undefined);
  assert.deepEqual(r, { statusCode: 201, body: '{"id":"pay_1"}', replayed: false });
});

test("a key: the request runs once with the key and the request's hash", async () => {
  const gate = new IdempotencyGate(fakeDb(new Map()), clock);
  let context: { key: string; requestHash: string } | undefined;
  const r = await gate.run(scope, request("key-1"), async (ctx) => {
    context = ctx;
    return ok();
  });
  assert.equal(context?.key, "key-1");
  assert.match(context?.requestHash ?? "", /^[0-9a-f]{64}$/);
  assert.notEqual(await hashOf({ amount: 100 }), await hashOf({ amount: 101 }), "the body is in the hash");
  assert.deepEqual(r, { statusCode: 201, body: '{"id":"pay_1"}', replayed: false });
});

test("the same key in flight in this process is answered 409 at once; freed after, also after a failure", async () => {
  const gate = new IdempotencyGate(fakeDb(new Map()), clock);
  let release!: () => void;
  const first = gate.run(scope, request("key-2"), async () => {
    await new Promise<void>((r) => {
      release = r;
    });
    return ok();
  });
  await new Promise((r) => setImmediate(r));
  let ran = false;
  await assert.rejects(
    gate.run(scope, request("key-2"), async () => {
      ran = true;
      return ok();
    }),
    apiError("idempotency_key_in_use"),
  );
  assert.equal(ran, false, "the second request never ran");
  // Another merchant, another mode: other slots.
  await gate.run({ merchantId: "mer_2", mode: "test" }, request("key-2"), ok);
  await gate.run({ merchantId: "mer_1", mode: "live" }, request("key-2"), ok);
  release();
  assert.equal((await first).replayed, false);
  assert.equal((await gate.run(scope, request("key-2"), ok)).statusCode, 201, "the slot is free again");
  await assert.rejects(
    gate.run(scope, request("key-3"), async () => {
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.equal((await gate.run(scope, request("key-3"), ok)).statusCode, 201, "freed after a failure too");
});

test("a key taken at commit: the stored response is replayed when the request is the same", async () => {
  const hash = await hashOf({ amount: 100 });
  const rows = new Map<string, Stored>([
    [
      "mer_1/test/key-4",
      {
        request_hash: hash,
        status_code: 201,
        response_body: '{"id":"pay_0"}',
        expires_at: new Date("2026-03-02"),
      },
    ],
  ]);
  const seen: { params?: unknown[] } = {};
  const gate = new IdempotencyGate(fakeDb(rows, seen), clock);
  const r = await gate.run(scope, request("key-4"), async () => {
    throw new IdempotencyConflict();
  });
  assert.deepEqual(r, { statusCode: 201, body: '{"id":"pay_0"}', replayed: true });
  assert.deepEqual(
    seen.params,
    ["mer_1", "test", "key-4", new Date(clock.nowMs())],
    "looked up now, in scope",
  );
  // The slot is free after a replay.
  assert.equal((await gate.run(scope, request("key-4"), ok)).replayed, false);
});

test("a key taken at commit by another request body: idempotency_key_reused", async () => {
  const rows = new Map<string, Stored>([
    [
      "mer_1/test/key-5",
      {
        request_hash: "0".repeat(64),
        status_code: 201,
        response_body: "{}",
        expires_at: new Date("2026-03-02"),
      },
    ],
  ]);
  const gate = new IdempotencyGate(fakeDb(rows), clock);
  await assert.rejects(
    gate.run(scope, request("key-5"), async () => {
      throw new IdempotencyConflict();
    }),
    apiError("idempotency_key_reused"),
  );
});

test("a key taken at commit by a request still running, or no longer stored: idempotency_key_in_use", async () => {
  const hash = await hashOf({ amount: 100 });
  const rows = new Map<string, Stored>([
    [
      "mer_1/test/running",
      { request_hash: hash, status_code: null, response_body: null, expires_at: new Date("2026-03-02") },
    ],
    [
      "mer_1/test/no-body",
      { request_hash: hash, status_code: 201, response_body: null, expires_at: new Date("2026-03-02") },
    ],
    [
      "mer_1/test/no-status",
      { request_hash: hash, status_code: null, response_body: "{}", expires_at: new Date("2026-03-02") },
    ],
    [
      "mer_1/test/expired",
      { request_hash: hash, status_code: 201, response_body: "{}", expires_at: new Date("2026-03-01") },
    ],
  ]);
  const gate = new IdempotencyGate(fakeDb(rows), clock);
  for (const key of ["running", "no-body", "no-status", "expired", "never-stored"]) {
    await assert.rejects(
      gate.run(scope, request(key), async () => {
        throw new IdempotencyConflict();
      }),
      apiError("idempotency_key_in_use"),
      key,
    );
  }
});

test("any other failure is not a conflict: it goes up as it is", async () => {
  const gate = new IdempotencyGate(fakeDb(new Map()), clock);
  const failure = new ApiError("parameter_invalid", "amount");
  await assert.rejects(
    gate.run(scope, request("key-6"), async () => {
      throw failure;
    }),
    (error) => error === failure,
  );
});
