/**
 * Goal: what every request meets at the edge, checked on a real listening server with Node's own
 * fetch and raw sockets where inject() would hide the problem: a 413 that fetch can read, 431 for
 * a 20 KB query string with the envelope; Request-Id on every response, in error bodies and in
 * every log line of the request; one info line per request with method, route, status, latency
 * and key id (never the key); errors logged without the failing query's data; the IETF RateLimit
 * headers; Idempotency-Key stored by POST /v1/mo_messages and POST /v1/dunning_policies.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../../src/http/app.ts";
import { configFromEnv } from "../../src/platform/config.ts";
import { createLogger } from "../../src/platform/log.ts";
import { createServices, type Services } from "../../src/services.ts";
import { ADMIN_KEY, call, createMerchant, type MerchantKeys } from "../support/app.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";

let database: TestDatabase;
let services: Services;
let app: FastifyInstance;
let base: string;
let m: MerchantKeys;
const lines: Array<Record<string, unknown>> = [];

before(async () => {
  database = await openTestDatabase();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  const config = {
    ...configFromEnv({}),
    adminKey: ADMIN_KEY,
    logLevel: "info",
    rateLimitPerSecond: 1,
    rateLimitBurst: 10,
  };
  services = createServices({ config, db: database.db, logger: createLogger("info", sink) });
  app = await buildApp(services);
  base = await app.listen({ host: "127.0.0.1", port: 0 });
  m = await createMerchant(app);
});
after(async () => {
  await app.close();
  await services.committer.close();
  await database.close();
});

/** The request line is written once the response has gone: give it a moment. */
const logged = () => new Promise((resolve) => setTimeout(resolve, 50));

/** Sends raw bytes and reads the whole answer (the server closes or the answer is complete). */
function rawRequest(text: string): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1");
    let answer = "";
    socket.on("data", (chunk) => {
      answer += chunk.toString("utf8");
    });
    socket.on("end", () => resolve(answer));
    socket.on("error", (error) => (answer ? resolve(answer) : reject(error)));
    socket.write(text);
  });
}

describe("bodies and headers too large, on a real socket", () => {
  test("a body over the limit: Node's fetch reads the 413 and its envelope", async () => {
    const response = await fetch(`${base}/v1/customers`, {
      method: "POST",
      headers: { authorization: `Bearer ${m.secretKey}`, "content-type": "application/json" },
      body: JSON.stringify({ metadata: { big: "x".repeat(200 * 1024) } }),
    });
    assert.equal(response.status, 413);
    const body = (await response.json()) as { error: { code: string; request_id: string } };
    assert.equal(body.error.code, "body_too_large");
    assert.equal(body.error.request_id, response.headers.get("request-id"));
  });

  test("a 1 MB body, sent in chunks: still a readable 413", async () => {
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 16; i++) controller.enqueue(new Uint8Array(64 * 1024).fill(32));
        controller.close();
      },
    });
    const response = await fetch(`${base}/v1/customers`, {
      method: "POST",
      headers: { authorization: `Bearer ${m.secretKey}`, "content-type": "application/json" },
      body: chunks,
      duplex: "half",
    } as RequestInit);
    assert.equal(response.status, 413);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, "body_too_large");
  });

  test("a 20 KB query string: 431 with the envelope", async () => {
    const answer = await rawRequest(
      `GET /v1/customers?external_id=${"a".repeat(20 * 1024)} HTTP/1.1\r\nHost: x\r\n` +
        `Authorization: Bearer ${m.secretKey}\r\n\r\n`,
    );
    assert.match(answer, /^HTTP\/1\.1 431 /);
    const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
    assert.equal(body.error.code, "request_headers_too_large");
    assert.equal(body.error.type, "invalid_request_error");
  });

  test("a percent sign alone in the path: 400 with the envelope, over HTTP too", async () => {
    const response = await fetch(`${base}/v1/customers/%`, {
      headers: { authorization: `Bearer ${m.secretKey}` },
    });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, "url_invalid");
    assert.match(response.headers.get("request-id") ?? "", /^req_/);
  });
});

describe("request ids and the request log", () => {
  test("every response carries a fresh random Request-Id, and the log line of its request", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const reply = await call(app, "GET", "/v1/customers", { key: m.secretKey });
      assert.equal(reply.status, 200);
      ids.add(String(reply.headers["request-id"]));
    }
    assert.equal(ids.size, 3);
    await logged();
    for (const id of ids) {
      const mine = lines.filter((l) => l.request_id === id);
      assert.equal(mine.length, 1, "one line per request");
      const line = mine[0]!;
      assert.equal(line.level, 30);
      assert.equal(line.method, "GET");
      assert.equal(line.route, "/v1/customers");
      assert.equal(line.status, 200);
      assert.equal(typeof line.latency_ms, "number");
      assert.match(String(line.key), /^key_/);
    }
    assert.ok(!JSON.stringify(lines).includes(m.secretKey), "the key itself is never logged");
  });

  test("a failing request logs its id and the error without the query's data", async () => {
    const original = services.customers.create.bind(services.customers);
    services.customers.create = async () => {
      const error = new Error(
        'duplicate key value violates unique constraint "customers_email" for "alice@example.com"',
      );
      Object.assign(error, {
        code: "23505",
        detail: "Key (email)=(alice@example.com) already exists.",
        params: ["alice@example.com", "+33612345678", "whsec_secret"],
        query: "insert into customers values ($1, $2, $3)",
      });
      throw error;
    };
    try {
      const reply = await call<{ error: { code: string; request_id: string } }>(
        app,
        "POST",
        "/v1/customers",
        {
          key: m.secretKey,
          body: { email: "alice@example.com", msisdn: "+33612345678" },
        },
      );
      assert.equal(reply.status, 500);
      assert.equal(reply.body.error.code, "internal_error");
      await logged();
      const mine = lines.filter((l) => l.request_id === reply.body.error.request_id);
      assert.deepEqual(
        mine.map((l) => l.level),
        [50, 30],
        "the error line, then the request line, both with the request id",
      );
      const text = JSON.stringify(mine);
      for (const secret of ["alice@example.com", "+33612345678", "whsec_secret", "insert into"]) {
        assert.ok(!text.includes(secret), `${secret} is not in the log`);
      }
      assert.equal((mine[0]!.err as { code: string }).code, "23505");
    } finally {
      services.customers.create = original;
    }
  });
});

describe("per-key rate limit headers (draft-ietf-httpapi-ratelimit-headers-08)", () => {
  test("every response says the policy and what is left; past the burst a 429 with Retry-After", async () => {
    const merchant = await createMerchant(app, "Rate limited studio");
    const replies = [];
    for (let i = 0; i < 20; i++)
      replies.push(await call(app, "GET", "/v1/customers", { key: merchant.secretKey }));
    for (const reply of replies) {
      assert.equal(reply.headers["ratelimit-policy"], '"per-key";q=10;w=10');
      assert.match(String(reply.headers.ratelimit), /^"per-key";r=\d+;t=\d+$/);
    }
    const remaining = replies.map((r) => Number(/r=(\d+)/.exec(String(r.headers.ratelimit))?.[1]));
    assert.ok(remaining[0]! >= 8 && remaining[0]! <= 9, `first answer leaves 9: ${remaining}`);
    const refused = replies.filter((r) => r.status === 429);
    assert.ok(refused.length >= 1, "the burst of 10 is spent");
    for (const reply of refused) {
      assert.ok(Number(reply.headers["retry-after"]) >= 1);
      assert.equal((reply.body as { error: { code: string } }).error.code, "rate_limited");
      assert.match(String(reply.headers.ratelimit), /r=0;/);
    }
  });
});

describe("POSTs that used to drop their Idempotency-Key", () => {
  test("POST /v1/mo_messages: a retry replays the first answer instead of running again", async () => {
    const merchant = await createMerchant(app, "MO studio");
    const send = (text: string) =>
      call<Record<string, unknown>>(app, "POST", "/v1/mo_messages", {
        key: merchant.secretKey,
        body: { msisdn: "+33612345678", text },
        headers: { "idempotency-key": "mo-1" },
      });
    const first = await send("STOP");
    assert.equal(first.status, 200);
    const retry = await send("STOP");
    assert.equal(retry.status, 200);
    assert.equal(retry.headers["idempotent-replayed"], "true");
    assert.deepEqual(retry.body, first.body);
    const reused = await send("HELP");
    assert.equal(reused.status, 422);
    assert.equal((reused.body as { error: { code: string } }).error.code, "idempotency_key_reused");
  });

  test("POST /v1/dunning_policies: a retry replays, a different body with the key is refused", async () => {
    const merchant = await createMerchant(app, "Dunning studio");
    const send = (retryDaysMax: number) =>
      call<Record<string, unknown>>(app, "POST", "/v1/dunning_policies", {
        key: merchant.secretKey,
        body: { retry_days_max: retryDaysMax },
        headers: { "idempotency-key": "policy-1" },
      });
    const first = await send(5);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const retry = await send(5);
    assert.equal(retry.headers["idempotent-replayed"], "true");
    assert.deepEqual(retry.body, first.body);
    const reused = await send(9);
    assert.equal(reused.status, 422);
    const list = await call<{ data: Array<{ retry_days_max: number }> }>(app, "GET", "/v1/dunning_policies", {
      key: merchant.secretKey,
    });
    assert.deepEqual(
      list.body.data.map((p) => p.retry_days_max),
      [5],
    );
  });
});
