/**
 * Goal: every event of a run arrives in NATS JetStream (a real server), none twice after the
 * de-duplication by event id, each object's events in order, across a publisher that dies after
 * publishing and before moving its cursor and is started again.
 *
 * Needs a NATS server with JetStream: set CENTIME_TEST_NATS_URL (`.ci/run` starts one); test/run.ts
 * leaves this file out otherwise.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { AckPolicy, connect, DeliverPolicy, type NatsConnection } from "nats";
import { createLogger } from "../../src/platform/log.ts";
import { JetStreamPublisher } from "../../src/stream/index.ts";
import { call, createMerchant, createTestApp, type TestApp } from "../support/app.ts";

const url = process.env.CENTIME_TEST_NATS_URL;
if (!url) throw new Error("CENTIME_TEST_NATS_URL is not set (test/run.ts runs this file only when it is)");

const run = randomBytes(4).toString("hex");
const stream = `CENTIME_TEST_${run}`;
const prefix = `centime_test_${run}`;
let t: TestApp;
let nc: NatsConnection;

before(async () => {
  t = await createTestApp({ config: { sandboxAsyncDelayMs: 20 } });
  nc = await connect({ servers: url });
});
after(async () => {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(stream).catch(() => {});
  await nc.close();
  await t.close();
});

function publisher(extra: { crashAfterPublish?: boolean } = {}) {
  return new JetStreamPublisher(
    { db: t.services.db, clock: t.services.clock, logger: createLogger("silent") },
    {
      url: url!,
      stream,
      subjectPrefix: prefix,
      batchSize: 7,
      leaseMs: 1,
      ...(extra.crashAfterPublish
        ? {
            beforeCursorMoves: () => {
              throw new Error("publisher died");
            },
          }
        : {}),
    },
  );
}

async function payments(key: string, count: number) {
  for (let i = 0; i < count; i++) {
    const r = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
      key,
      body: {
        amount: 100 + i,
        currency: "EUR",
        payment_method: { type: "sandbox", scenario: i % 3 === 0 ? "decline_generic" : "approve" },
      },
    });
    assert.equal(r.status, 201);
    if (r.body.status === "succeeded" && i % 2 === 0) {
      await call(t.app, "POST", "/v1/refunds", { key, body: { payment: r.body.id, amount: 10 } });
    }
  }
}

test("every event arrives once after de-duplication, in order per object, across a publisher restart", async () => {
  const m = await createMerchant(t.app);
  await payments(m.secretKey, 12);

  // A first publisher publishes two batches, then dies before moving its cursor on the third.
  const first = publisher();
  assert.ok((await first.publishBatch()) > 0);
  assert.ok((await first.publishBatch()) > 0);
  await first.close();
  const dying = publisher({ crashAfterPublish: true });
  await assert.rejects(dying.publishBatch(), /publisher died/);
  await dying.close();

  // More payments while no publisher runs, then a new publisher takes over until caught up.
  await payments(m.secretKey, 6);
  await new Promise((r) => setTimeout(r, 20)); // the dead publisher's 1 ms lease has run out
  const second = publisher();
  let attempts = 0;
  while ((await second.publishBatch()) > 0) attempts++;
  await second.close();
  assert.ok(attempts > 0);

  const { rows: events } = await t.services.db.query<{ id: string; object_id: string }>(
    `select e.id, e.object_id from analytics_feed f
       cross join lateral unnest(coalesce(f.event_ids, array[f.event_id])) with ordinality as x(id, n)
       join events e on e.id = x.id
      order by f.seq, x.n`,
  );
  // Read the whole stream back.
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(stream);
  const consumer = await jsm.consumers.add(stream, {
    durable_name: "check",
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await (await js.consumers.get(stream, consumer.name)).fetch({
    max_messages: info.state.messages,
    expires: 5_000,
  });
  const received: Array<{ id: string; object: string }> = [];
  for await (const msg of messages) {
    received.push({ id: msg.headers!.get("Nats-Msg-Id"), object: msg.headers!.get("Centime-Object-Id") });
    assert.equal((msg.json() as { id: string }).id, msg.headers!.get("Nats-Msg-Id"));
    if (received.length === info.state.messages) break;
  }
  assert.ok(info.state.messages > 0);
  const ids = received.map((r) => r.id);
  assert.equal(new Set(ids).size, ids.length, "no event twice in the stream");
  assert.deepEqual([...ids].sort(), events.map((e) => e.id).sort(), "every event, nothing else");
  // Per object, the stream's order is the order the events were written in.
  const position = new Map(events.map((e, i) => [e.id, i]));
  const lastOf = new Map<string, number>();
  for (const r of received) {
    const p = position.get(r.id)!;
    assert.ok((lastOf.get(r.object) ?? -1) < p, `events of ${r.object} in order`);
    lastOf.set(r.object, p);
  }
});
