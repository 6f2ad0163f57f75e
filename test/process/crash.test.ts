/**
 * kill -9 during a burst of payments: the server is SIGKILLed with requests in flight, restarted
 * on the same store, and every idempotency key is replayed. Nothing answered may change, nothing
 * may be lost or charged twice, and the ledger must balance. Then a SIGKILL right after start,
 * and one more start to check the store still opens (embedded crash recovery).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { auditMerchantBooks } from "../support/auditor.ts";
import {
  type CentimeProcess,
  createMerchantOver,
  freshStore,
  http,
  killAllChildren,
  type ProcessStore,
  startCentime,
  TEST_ADMIN_KEY,
} from "../support/process.ts";

const KEYS = 300;
const IN_FLIGHT = 32;
const KILL_AFTER_RESPONSES = 100;

type Payment = { id: string; status: string; amount: number; amount_captured: number; currency: string };
type Body = { amount: number; currency: string; payment_method: { type: string; scenario: string } };
type TrialRow = {
  currency: string;
  debits: number;
  credits: number;
  pending_debits: number;
  pending_credits: number;
  balanced: boolean;
};

let store: ProcessStore;
before(async () => {
  store = await freshStore({ embedded: "centime-crash-", postgres: "centime_crash_" });
});
after(async () => {
  killAllChildren();
  await store?.cleanup();
});

function start(): Promise<CentimeProcess> {
  return startCentime({ ...store.env, CENTIME_ADMIN_KEY: TEST_ADMIN_KEY });
}

/** Runs `work(i)` for i in [0, n) with at most `limit` calls in flight. */
async function pool(n: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

async function listAll(base: string, key: string): Promise<Payment[]> {
  const out: Payment[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const path = `/v1/payments?limit=100${cursor ? `&starting_after=${cursor}` : ""}`;
    const r = await http<{ data: Payment[]; has_more: boolean }>(base, "GET", path, { key });
    assert.equal(r.status, 200, r.text);
    out.push(...r.body.data);
    if (!r.body.has_more) return out;
    cursor = r.body.data.at(-1)!.id;
  }
  throw new Error("more than 100 pages of payments");
}

async function assertBalanced(base: string, key: string): Promise<TrialRow[]> {
  const r = await http<{ data: TrialRow[] }>(base, "GET", "/v1/ledger/trial_balance", { key });
  assert.equal(r.status, 200, r.text);
  for (const row of r.body.data) {
    assert.equal(row.debits, row.credits, `${row.currency}: debits == credits`);
    assert.equal(
      row.pending_debits,
      row.pending_credits,
      `${row.currency}: pending debits == pending credits`,
    );
    assert.equal(row.balanced, true, `${row.currency}: balanced`);
  }
  return r.body.data;
}

/** The server's log lines for the requests that failed, so that a rare failure explains itself. */
function serverErrors(server: CentimeProcess, failures: readonly string[]): string {
  const ids = failures.flatMap((line) => /"request_id":"([^"]+)"/.exec(line)?.[1] ?? []);
  const lines = `${server.stdout()}\n${server.stderr()}`.split("\n");
  return lines
    .filter((line) => ids.some((id) => line.includes(id)) || /"level":(50|60)/.test(line))
    .join("\n");
}

test("kill -9 during a burst: every key replays to exactly one payment, the ledger balances", {
  timeout: 120_000,
}, async () => {
  const run = randomBytes(4).toString("hex");
  const keys = Array.from({ length: KEYS }, (_, i) => `crash-${run}-${i}`);
  const bodies: Body[] = keys.map((_, i) => ({
    amount: 100 + ((i * 37) % 900),
    currency: i % 3 === 0 ? "USD" : "EUR",
    payment_method: { type: "sandbox", scenario: "approve" },
  }));

  const first = await start();
  const { secretKey } = await createMerchantOver(first.url, TEST_ADMIN_KEY, "Crash studio");

  // The burst, with a SIGKILL once KILL_AFTER_RESPONSES answers have arrived.
  const answered = new Map<number, Payment>();
  const otherStatuses: string[] = [];
  let unanswered = 0;
  let responses = 0;
  let killed = false;
  const burstBegan = performance.now();
  await pool(KEYS, IN_FLIGHT, async (i) => {
    try {
      const r = await http<Payment>(first.url, "POST", "/v1/payments", {
        key: secretKey,
        headers: { "Idempotency-Key": keys[i]! },
        body: bodies[i],
      });
      responses++;
      if (r.status === 201) answered.set(i, r.body);
      else otherStatuses.push(`${keys[i]}: ${r.status} ${r.text}`);
    } catch {
      unanswered++;
    }
    if (!killed && responses >= KILL_AFTER_RESPONSES) {
      killed = true;
      first.child.kill("SIGKILL");
    }
  });
  const exit = await first.kill9();
  const burstMs = performance.now() - burstBegan;
  assert.equal(
    exit.signal,
    "SIGKILL",
    `the server died of the SIGKILL, not on its own (exit ${JSON.stringify(exit)}): ${first.stderr()}`,
  );
  assert.deepEqual(
    otherStatuses,
    [],
    `before the crash every answer was a 201; the server logged:\n${serverErrors(first, otherStatuses)}`,
  );
  assert.ok(answered.size >= KILL_AFTER_RESPONSES, "the crash came after the first answers");
  assert.ok(unanswered > 0, "the crash left requests unanswered");
  assert.equal(answered.size + unanswered, KEYS);

  // Restart on the same store and replay every key with the same body.
  const second = await start();
  const replays = new Map<number, { payment: Payment; replayed: boolean }>();
  const replayErrors: string[] = [];
  await pool(KEYS, IN_FLIGHT, async (i) => {
    const r = await http<Payment>(second.url, "POST", "/v1/payments", {
      key: secretKey,
      headers: { "Idempotency-Key": keys[i]! },
      body: bodies[i],
    });
    if (r.status !== 201) replayErrors.push(`${keys[i]}: ${r.status} ${r.text}`);
    else replays.set(i, { payment: r.body, replayed: r.headers.get("idempotent-replayed") === "true" });
  });
  assert.deepEqual(replayErrors, [], "every key answers 201 after the restart");

  let committedUnanswered = 0;
  for (let i = 0; i < KEYS; i++) {
    const replay = replays.get(i)!;
    assert.equal(replay.payment.amount, bodies[i]!.amount, `${keys[i]}: amount`);
    assert.equal(replay.payment.currency, bodies[i]!.currency, `${keys[i]}: currency`);
    assert.equal(replay.payment.status, "succeeded", `${keys[i]}: status`);
    const before = answered.get(i);
    if (before) {
      assert.equal(replay.payment.id, before.id, `${keys[i]}: answered before the crash, same payment after`);
      assert.equal(replay.replayed, true, `${keys[i]}: Idempotent-Replayed`);
    } else if (replay.replayed) {
      committedUnanswered++;
    }
  }
  const replayIds = new Set([...replays.values()].map((r) => r.payment.id));
  assert.equal(replayIds.size, KEYS, "every key has its own payment");

  // The list holds exactly those payments, and the money adds up.
  const listed = await listAll(second.url, secretKey);
  const listedIds = new Set(listed.map((p) => p.id));
  assert.equal(listedIds.size, listed.length, "no payment listed twice");
  assert.equal(listed.length, KEYS, "one payment per key, none lost, none extra");
  assert.deepEqual([...listedIds].sort(), [...replayIds].sort());
  const capturedBy = new Map<string, number>();
  for (const p of listed) capturedBy.set(p.currency, (capturedBy.get(p.currency) ?? 0) + p.amount_captured);
  const expectedBy = new Map<string, number>();
  for (const b of bodies) expectedBy.set(b.currency, (expectedBy.get(b.currency) ?? 0) + b.amount);
  assert.deepEqual(
    Object.fromEntries(capturedBy),
    Object.fromEntries(expectedBy),
    "captured == asked, per currency",
  );
  const trial = await assertBalanced(second.url, secretKey);
  assert.deepEqual(trial.map((r) => r.currency).sort(), ["EUR", "USD"]);
  const audit = await auditMerchantBooks(
    async (path) => (await http(second.url, "GET", path, { key: secretKey })).body,
  );
  assert.equal(audit.payments, KEYS, "the auditor saw every payment");

  console.log(
    `crash burst on ${store.kind}: ${KEYS} keys, ${IN_FLIGHT} in flight, SIGKILL after ${KILL_AFTER_RESPONSES} responses; ` +
      `${answered.size} answered 201, ${unanswered} unanswered (${committedUnanswered} of them had committed, ` +
      `${unanswered - committedUnanswered} ran on replay); burst ${burstMs.toFixed(0)} ms; ` +
      `first start ${first.startMs.toFixed(0)} ms, restart after crash ${second.startMs.toFixed(0)} ms`,
  );

  // SIGKILL the restarted server, SIGKILL the next one right after its start, and the store
  // must still open with everything in it.
  await second.kill9();
  const third = await start();
  await third.kill9();
  const fourth = await start();
  const ready = await http<{ migrations: { pending: number[] } }>(fourth.url, "GET", "/ready");
  assert.equal(ready.status, 200, ready.text);
  assert.deepEqual(ready.body.migrations.pending, []);
  assert.equal((await listAll(fourth.url, secretKey)).length, KEYS);
  await assertBalanced(fourth.url, secretKey);
  await auditMerchantBooks(async (path) => (await http(fourth.url, "GET", path, { key: secretKey })).body);
  const stopped = await fourth.stop();
  assert.equal(stopped.code, 0, "a graceful stop exits 0");
  console.log(
    `crash recovery on ${store.kind}: start killed at once ${third.startMs.toFixed(0)} ms, ` +
      `next start ${fourth.startMs.toFixed(0)} ms`,
  );
});
