/**
 * The change stream against a real NATS JetStream server: every event of a run arrives, none twice
 * after de-duplication by event id, in commit order per object, across a publisher killed after
 * JetStream acknowledged a batch and before it recorded so (the restart publishes it again).
 *
 * The server: CENTIME_NATS_URL, else nats://127.0.0.1:4222 (`.ci/run` starts one there), else a
 * `nats-server -js` this test starts itself. Without any of them the test fails and says why: it
 * never skips.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, type NatsConnection } from "nats";
import { catchUp } from "../../src/analytics/index.ts";
import { FakeClock } from "../../src/platform/clock.ts";
import {
  cursorName,
  ensureStream,
  publishBatch,
  type StreamOptions,
  startStreamPublisher,
} from "../../src/stream/index.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { freePort } from "../support/process.ts";

let t: TestApp;
let m: MerchantKeys;
let url: string;
let ownServer: ChildProcess | undefined;
const clock = new FakeClock(Date.parse("2026-06-01T08:00:00Z"));
const run = randomBytes(4).toString("hex");
const options = (): StreamOptions => ({
  db: t.services.db,
  clock,
  url,
  stream: `CENTIME_TEST_${run}`,
  subject: `centime-test.${run}`,
  batchSize: 7,
  pollIntervalMs: 20,
});

function reachable(address: string): Promise<boolean> {
  const { hostname, port } = new URL(address);
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: hostname, port: Number(port || 4222) }, () => {
      socket.end();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function natsServer(): Promise<string> {
  const configured = process.env.CENTIME_NATS_URL;
  if (configured) {
    if (!(await reachable(configured))) throw new Error(`CENTIME_NATS_URL=${configured} is not reachable`);
    return configured;
  }
  if (await reachable("nats://127.0.0.1:4222")) return "nats://127.0.0.1:4222";
  const binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].find(
    (path) => spawnSync(path, ["--version"]).status === 0,
  );
  if (!binary) {
    throw new Error(
      "No NATS server: set CENTIME_NATS_URL, run `nats-server -js` on 127.0.0.1:4222 (.ci/run does), or install nats-server.",
    );
  }
  const port = await freePort();
  ownServer = spawn(
    binary,
    ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", mkdtempSync(join(tmpdir(), "centime-nats-"))],
    {
      stdio: "ignore",
    },
  );
  const address = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await reachable(address)); i++) await new Promise((r) => setTimeout(r, 50));
  return address;
}

before(async () => {
  url = await natsServer();
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
});
after(async () => {
  try {
    const nc = await connect({ servers: url });
    await (await nc.jetstreamManager()).streams.delete(options().stream).catch(() => false);
    await nc.close();
  } finally {
    ownServer?.kill();
    await t?.close();
  }
});

async function payments(count: number) {
  for (let i = 0; i < count; i++) {
    const scenario = ["approve", "decline_generic", "require_pin"][i % 3]!;
    const r = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: { amount: 100 + i, currency: "EUR", payment_method: { type: "sandbox", scenario } },
    });
    assert.equal(r.status, 201);
    if (scenario === "require_pin") {
      await call(t.app, "POST", `/v1/payments/${r.body.id}/confirm`, {
        key: m.secretKey,
        body: { pin: "1234" },
      });
    }
    clock.advance(1000);
  }
}

/** Every message of the stream in stream order: [event id, object id]. */
async function streamed(nc: NatsConnection, stream: string): Promise<{ id: string; object: string }[]> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(stream);
  const out: { id: string; object: string }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const message = await jsm.streams.getMessage(stream, { seq });
    const body = message.json<{ id: string; data: { object: { id: string } } }>();
    assert.equal(message.header.get("Nats-Msg-Id"), body.id, "the message id is the event id");
    out.push({ id: body.id, object: body.data.object.id });
  }
  return out;
}

test("every event arrives once, in order per object, across a publisher killed after the acknowledgements", async () => {
  await payments(15);
  const nc = await connect({ servers: url });
  await ensureStream(nc, options());
  const js = nc.jetstream();
  assert.equal(await publishBatch(js, options()), 7);
  assert.equal(await publishBatch(js, options()), 7);
  // JetStream has the third batch; the publisher dies before moving its cursor.
  await assert.rejects(
    publishBatch(js, {
      ...options(),
      afterPublish: () => {
        throw new Error("publisher killed");
      },
    }),
    /killed/,
  );
  await nc.close();

  // A new publisher carries on from the cursor while payments keep coming.
  const publisher = await startStreamPublisher(options());
  await payments(10);
  await catchUp(t.services.db, clock.nowMs());
  const { rows: events } = await t.services.db.query<{ id: string; object_id: string }>(
    "select id, object_id from events order by txid, id",
  );
  const check = await connect({ servers: url });
  const deadline = Date.now() + 30_000;
  let messages = await streamed(check, options().stream);
  while (messages.length < events.length && Date.now() < deadline) {
    await publisher.drained();
    messages = await streamed(check, options().stream);
  }
  await publisher.stop();

  assert.ok(events.length > 50, `${events.length} events`);
  assert.equal(messages.length, events.length, "none lost, none twice (the re-published batch was dropped)");
  assert.deepEqual(new Set(messages.map((x) => x.id)), new Set(events.map((e) => e.id)));
  const order = (list: { id: string; object: string }[]) => {
    const byObject = new Map<string, string[]>();
    for (const { id, object } of list) byObject.set(object, [...(byObject.get(object) ?? []), id]);
    return byObject;
  };
  assert.deepEqual(order(messages), order(events.map((e) => ({ id: e.id, object: e.object_id }))));
  const cursor = await t.services.db.query<{ events_consumed: bigint }>(
    "select events_consumed from analytics_cursors where name = $1",
    [cursorName(options().stream)],
  );
  assert.equal(Number(cursor.rows[0]!.events_consumed), events.length);
  await check.close();
});
