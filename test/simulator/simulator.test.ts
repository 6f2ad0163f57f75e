/**
 * Goal: the carrier network simulator behaves as documented: subscribers by last digits, local
 * currency balances, caps, the PIN flow with 1234, the card 3-D Secure redirect with signed
 * notifications, SMPP MO keywords and duplicate/out-of-order receipts, missing settlement lines,
 * determinism for a seed, and a CLI entry point.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { CamaraConnector } from "../../src/connectors/camara/index.ts";
import { CardPspConnector } from "../../src/connectors/cardpsp/index.ts";
import { OneApiConnector } from "../../src/connectors/oneapi/index.ts";
import { CARD_PSP_OPERATOR, getOperator } from "../../src/connectors/operators/index.ts";
import { type ConnectorEvent, MemoryLog } from "../../src/connectors/sdk/types.ts";
import { SettlementConnector } from "../../src/connectors/settlement/index.ts";
import { SmppConnector } from "../../src/connectors/smpp/index.ts";
import { parseSimulatorArgs, runSimulatorCli } from "../../src/simulator/cli.ts";
import { startSimulator, TEST_PIN } from "../../src/simulator/index.ts";
import { lastCode, startTestSimulator } from "../connectors/support/fixtures.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An SMPP connector of a Nigerian operator against `sim`, answering at once (no wait for receipts). */
const nigerianSmpp = (sim: { httpUrl: string; smppPort: number }) =>
  new SmppConnector({
    operator: getOperator("62130")!,
    log: new MemoryLog(),
    http_url: sim.httpUrl,
    smpp_port: sim.smppPort,
    callback_wait_ms: 0,
  });
const simPromise = startTestSimulator(3);
after(async () => (await simPromise).close());

describe("subscribers", () => {
  it("hold about 100 US dollars' worth of the local currency, in minor units by its digits", async () => {
    const sim = await simPromise;
    const oneapi = (id: string) =>
      new OneApiConnector({ operator: getOperator(id)!, log: new MemoryLog(), http_url: sim.httpUrl });
    for (const [id, msisdn, expected] of [
      ["47001", "+8801711110010", 1_200_000n], // 12,000.00 BDT
      ["61203", "+2250711110010", 60_000n], // 60,000 XOF (no minor unit)
      ["41902", "+96550010010", 100_000n], // 100.000 KWD
    ] as const) {
      const b = await oneapi(id).balance({ msisdn });
      assert.equal(b.status, "ok");
      if (b.status === "ok") {
        assert.equal(b.balance, expected, id);
        assert.equal(b.rating, "prepaid");
      }
    }
  });

  it("enforce operator caps per transaction and per month", async () => {
    const sim = await simPromise;
    const c = new CamaraConnector({
      operator: getOperator("21407")!,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
    });
    const big = await c.charge({
      attempt_id: "cap-1",
      msisdn: "+34600220010",
      amount: 5001n,
      currency: "EUR",
      description: "x",
    });
    assert.equal(big.status, "declined");
    if (big.status === "declined") assert.equal(big.category, "limit_reached");
    // A postpaid subscriber (…0006) has no balance limit but the monthly cap (300.00).
    const results: string[] = [];
    for (let i = 0; i < 7; i++)
      results.push(
        (
          await c.charge({
            attempt_id: `cap-m-${i}`,
            msisdn: "+34600220006",
            amount: 5000n,
            currency: "EUR",
            description: "x",
          })
        ).status,
      );
    assert.deepEqual(results, [
      "succeeded",
      "succeeded",
      "succeeded",
      "succeeded",
      "succeeded",
      "succeeded",
      "declined",
    ]);
  });
});

describe("one-time codes", () => {
  it("OneAPI: Centime texts its own code through the operator's SMS API and checks it", async () => {
    const sim = await simPromise;
    const log = new MemoryLog();
    const c = new OneApiConnector({ operator: getOperator("47001")!, log, http_url: sim.httpUrl });
    const asked = { msisdn: "+8801733330010", amount: 500n, currency: "BDT", description: "Coins" };
    const start = await c.startConsent({ attempt_id: "pin-1", ...asked });
    assert.equal(start.status, "pin_sent");
    if (start.status !== "pin_sent") return;
    assert.deepEqual(start.next_action, { type: "enter_pin", consent_id: start.consent_id });
    const code = lastCode(sim, asked.msisdn);
    assert.match(code ?? "", /^\d{6}$/, "a six-digit code arrived by SMS");
    const sent = log.entries.find((e) => e.operation === "send_sms");
    assert.match(JSON.stringify(sent?.request), /\/v1\/smsmessaging\/outbound\/tel%3A4040\/requests/);
    assert.ok(!JSON.stringify(log.entries).includes(code ?? "-"), "the code never reaches the log");
    const wrong = code === "000000" ? "111111" : "000000";
    assert.deepEqual(await c.verifyConsent({ consent_id: start.consent_id, pin: wrong }), {
      status: "rejected",
      reason: "wrong_code",
    });
    assert.equal(
      (await c.verifyConsent({ consent_id: start.consent_id, pin: code ?? "" })).status,
      "verified",
    );
    // A consent is for one number, amount and currency, and cannot be forged.
    const other = await c.charge({
      attempt_id: "pin-1",
      ...asked,
      amount: 501n,
      consent_id: start.consent_id,
    });
    assert.deepEqual(other, { status: "not_sent", reason: "invalid_input" });
    const forged = `${start.consent_id.slice(0, -4)}AAAA`;
    assert.equal((await c.verifyConsent({ consent_id: forged, pin: code ?? "" })).status, "rejected");
    const paid = await c.charge({ attempt_id: "pin-1", ...asked, consent_id: start.consent_id });
    assert.equal(paid.status, "succeeded");
  });

  it("OneAPI on a test network: the code is the documented 1234", async () => {
    const sim = await simPromise;
    const c = new OneApiConnector({
      operator: getOperator("47001")!,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      otp_fixed_code: TEST_PIN,
    });
    const start = await c.startConsent({
      attempt_id: "pin-2",
      msisdn: "+8801733330011",
      amount: 500n,
      currency: "BDT",
      description: "Coins",
    });
    assert.equal(start.status, "pin_sent");
    if (start.status !== "pin_sent") return;
    assert.equal(lastCode(sim, "+8801733330011"), TEST_PIN);
    assert.equal((await c.verifyConsent({ consent_id: start.consent_id, pin: TEST_PIN })).status, "verified");
  });

  it("CAMARA: the operator asks for validation; three wrong codes deny and release the reservation", async () => {
    const sim = await simPromise;
    const c = new CamaraConnector({
      operator: getOperator("21407")!,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
    });
    const msisdn = "+34600330010";
    sim.network.fund(msisdn, "EUR", 10_000n);
    const start = await c.startConsent({
      attempt_id: "otp-1",
      msisdn,
      amount: 500n,
      currency: "EUR",
      description: "Coins",
    });
    assert.equal(start.status, "pin_sent");
    if (start.status !== "pin_sent") return;
    assert.equal(sim.network.findSubscriber(msisdn)?.balance, 9_500n, "reserved while the code is awaited");
    const tries = [];
    for (const pin of ["1", "2", "3", TEST_PIN])
      tries.push(await c.verifyConsent({ consent_id: start.consent_id, pin }));
    assert.deepEqual(
      tries.map((t) => (t.status === "rejected" ? t.reason : t.status)),
      [
        "CARRIER_BILLING.INVALID_CODE",
        "CARRIER_BILLING.INVALID_CODE",
        "CARRIER_BILLING.VALIDATION_FAILED",
        "CARRIER_BILLING.INVALID_AUTHORIZATION_ID",
      ],
    );
    assert.equal(sim.network.findSubscriber(msisdn)?.balance, 10_000n, "the reservation was released");
  });
});

describe("card PSP sandbox", () => {
  it("asks for a redirect on …0007, then completes it and sends a signed notification", async () => {
    const sim = await simPromise;
    const received: { headers: Record<string, string | undefined>; body: string }[] = [];
    const hook = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push({ headers: { "x-signature": req.headers["x-signature"] as string | undefined }, body });
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", () => r()));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/cb`;
    const c = new CardPspConnector({
      operator: CARD_PSP_OPERATOR,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      psp_secret: "whsec_sandbox",
      callback_url: hookUrl,
    });
    const events: ConnectorEvent[] = [];
    c.onEvent((e) => events.push(e));
    const o = await c.charge({
      attempt_id: "3ds-1",
      card: { number: "4000000000000007", exp_month: 1, exp_year: 2030, cvc: "1" },
      amount: 700n,
      currency: "EUR",
      description: "x",
    });
    assert.equal(o.status, "pending");
    if (o.status !== "pending" || o.next_action?.type !== "redirect") throw new Error("expected a redirect");
    const page = await fetch(`${o.next_action.url}?result=approve`);
    assert.equal(page.status, 200);
    await page.text();
    for (let i = 0; i < 50 && received.length === 0; i++) await sleep(10);
    await new Promise<void>((r) => hook.close(() => r()));
    assert.equal(received.length, 1);
    const reply = await c.handleCallback({
      attempt_id: "3ds-1",
      query: {},
      headers: received[0]!.headers,
      body: received[0]!.body,
    });
    assert.equal(reply.status, 200);
    const done = events.find((e) => e.type === "outcome");
    assert.ok(done?.type === "outcome" && done.outcome.status === "succeeded");
    assert.equal((await c.sync({ attempt_id: "3ds-1", amount: 700n, currency: "EUR" })).status, "succeeded");
  });

  it("turns a denied 3-D Secure step into a consent decline", async () => {
    const sim = await simPromise;
    const c = new CardPspConnector({
      operator: CARD_PSP_OPERATOR,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      psp_secret: "whsec_sandbox",
    });
    const o = await c.charge({
      attempt_id: "3ds-2",
      card: { number: "4000000000010007", exp_month: 1, exp_year: 2030, cvc: "1" },
      amount: 700n,
      currency: "EUR",
      description: "x",
    });
    if (o.status !== "pending" || o.next_action?.type !== "redirect") throw new Error("expected a redirect");
    await (await fetch(`${o.next_action.url}?result=deny`)).text();
    const s = await c.sync({ attempt_id: "3ds-2", amount: 700n, currency: "EUR" });
    assert.equal(s.status, "declined");
    if (s.status === "declined") assert.equal(s.category, "consent_required");
  });
});

describe("SMPP", () => {
  it("raises MO keywords, STOP included, as events", async () => {
    const sim = await simPromise;
    const c = new SmppConnector({
      operator: getOperator("62130")!,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      smpp_port: sim.smppPort,
    });
    const events: ConnectorEvent[] = [];
    c.onEvent((e) => events.push(e));
    await c.sendSms({ attempt_id: "bind", msisdn: "+2348030000010", text: "hello" });
    assert.equal(
      sim.sendMo({ operator: "62130", msisdn: "+2348030000010", shortcode: "33070", text: "stop" }),
      1,
    );
    sim.sendMo({ operator: "62130", msisdn: "+2348030000011", shortcode: "33070", text: "SUB NEWS" });
    for (let i = 0; i < 50 && events.length < 2; i++) await sleep(10);
    await c.close();
    assert.deepEqual(
      events.map((e) => (e.type === "mo" ? [e.keyword, e.msisdn] : e.type)),
      [
        ["STOP", "+2348030000010"],
        ["SUB", "+2348030000011"],
      ],
    );
  });

  it("binds again after the SMSC drops the session", async () => {
    const sim = await simPromise;
    const c = new SmppConnector({
      operator: getOperator("62130")!,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      smpp_port: sim.smppPort,
    });
    const first = await c.charge({
      attempt_id: "rebind-1",
      msisdn: "+2348030010010",
      amount: 100n,
      currency: "NGN",
      description: "x",
    });
    assert.ok(sim.dropSmppSessions() >= 1);
    for (let i = 0; i < 50; i++) {
      const o = await c.charge({
        attempt_id: "rebind-2",
        msisdn: "+2348030010011",
        amount: 100n,
        currency: "NGN",
        description: "x",
        deadline_ms: 500,
      });
      if (o.status === "succeeded") break;
      // A charge sent into the dying socket is unknown; `sync` after the rebind settles it.
      assert.notEqual(o.status, "declined");
      await sleep(10);
    }
    const settled = await c.sync({ attempt_id: "rebind-2", amount: 100n, currency: "NGN" });
    await c.close();
    assert.equal(first.status, "succeeded");
    assert.equal(settled.status, "succeeded");
  });

  it("a receipt read together with submit_sm_resp settles the charge once (as its answer, not also an event)", async () => {
    // Under load the receipt is already in the socket when submit_sm_resp is read: both PDUs are
    // parsed in one go, before charge() resumes. Slow turns of the event loop make that happen here.
    const sim = await startSimulator({ seed: 5, instant: true });
    const c = nigerianSmpp(sim);
    await c.listen();
    const events: ConnectorEvent[] = [];
    c.onEvent((e) => events.push(e));
    let busy = true;
    const slowTurns = (async () => {
      while (busy) {
        await new Promise<void>((r) => setImmediate(r));
        const until = performance.now() + 3;
        while (performance.now() < until);
      }
    })();
    const outcomes: Awaited<ReturnType<SmppConnector["charge"]>>[] = [];
    for (let i = 0; i < 10; i++)
      outcomes.push(
        await c.charge({
          attempt_id: `together-${i}`,
          msisdn: "+2348030000010",
          amount: 500n,
          currency: "NGN",
          description: "x",
        }),
      );
    await sleep(50);
    busy = false;
    await slowTurns;
    await c.close();
    await sim.close();
    for (let i = 0; i < 10; i++) {
      const finals = [
        outcomes[i]!,
        ...events.flatMap((e) =>
          e.type === "outcome" && e.attempt_id === `together-${i}` ? [e.outcome] : [],
        ),
      ].filter((x) => x.status !== "pending");
      assert.equal(
        finals.length,
        1,
        `together-${i}: exactly one final outcome, got ${finals.map((f) => f.status).join(", ")}`,
      );
      assert.equal(finals[0]!.status, "succeeded");
    }
  });

  it("settles a charge once despite duplicate and out-of-order receipts", async () => {
    const sim = await startSimulator({
      seed: 4,
      instant: true,
      dlr_duplicate_rate: 1,
      dlr_out_of_order_rate: 1,
    });
    const c = nigerianSmpp(sim);
    const events: ConnectorEvent[] = [];
    c.onEvent((e) => events.push(e));
    const o = await c.charge({
      attempt_id: "dlr-1",
      msisdn: "+2348030000010",
      amount: 500n,
      currency: "NGN",
      description: "x",
    });
    for (let i = 0; i < 50 && c.duplicateReceipts + c.lateReceipts < 2; i++) await sleep(10);
    await c.close();
    await sim.close();
    const outcomes = [o, ...events.flatMap((e) => (e.type === "outcome" ? [e.outcome] : []))].filter(
      (x) => x.status !== "pending",
    );
    assert.equal(outcomes.length, 1, "exactly one final outcome");
    assert.equal(outcomes[0]?.status, "succeeded");
    assert.equal(c.duplicateReceipts, 1);
    assert.equal(c.lateReceipts, 1);
  });
});

describe("settlement files", () => {
  it("leaves lines out of a response file, marks them missing, and reports them in the next file", async () => {
    const base = await startTestSimulator(8);
    await base.close();
    const sim = await startSimulator({
      seed: 8,
      instant: true,
      settlement_missing_rate: 0.5,
      settlementDir: base.dir,
    });
    const c = new SettlementConnector({
      operator: getOperator("41001")!,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      settlement_dir: base.dir,
    });
    const ids = Array.from({ length: 20 }, (_, i) => `mis-${i}`);
    for (const [i, id] of ids.entries())
      await c.charge({
        attempt_id: id,
        msisdn: `+92300${String(i).padStart(3, "0")}0010`,
        amount: 100n,
        currency: "PKR",
        description: "x",
      });
    await c.flush();
    await sim.settle();
    const missing = await c.missing();
    assert.ok(missing.length > 0 && missing.length < ids.length, `${missing.length} missing`);
    for (const id of missing) assert.equal((await c.sync({ attempt_id: id })).status, "unknown");
    await sim.settle();
    assert.deepEqual(await c.missing(), []);
    for (const id of ids) assert.equal((await c.sync({ attempt_id: id })).status, "succeeded");
    await sim.close();
  });
});

describe("determinism and entry point", () => {
  async function trace(seed: number): Promise<string[]> {
    const sim = await startSimulator({ seed, instant: true, error_rate: 0.3 });
    const c = new OneApiConnector({
      operator: getOperator("47001")!,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
    });
    const out: string[] = [];
    for (let i = 0; i < 30; i++)
      out.push(
        (
          await c.charge({
            attempt_id: `d-${i}`,
            msisdn: `+88017000${String(i).padStart(2, "0")}0010`,
            amount: 100n,
            currency: "BDT",
            description: "x",
          })
        ).status,
      );
    await sim.close();
    return out;
  }

  it("replays the same faults for the same seed", async () => {
    const a = await trace(99);
    assert.deepEqual(await trace(99), a);
    assert.ok(a.includes("declined") && a.includes("succeeded"), "a 30% error rate shows both");
    assert.notDeepEqual(await trace(100), a);
  });

  it("starts from the CLI entry point with flags, and refuses unknown flags", async () => {
    assert.deepEqual(
      parseSimulatorArgs(["--seed", "5", "--instant", "--http-port", "0", "--error-rate", "0.1"]),
      { seed: 5, httpPort: 0, smppPort: 2775, settlement_interval_ms: 1000, instant: true, error_rate: 0.1 },
    );
    assert.throws(() => parseSimulatorArgs(["--nope"]), /unknown option/);
    const lines: string[] = [];
    const sim = await runSimulatorCli(
      ["--http-port", "0", "--smpp-port", "0", "--instant", "--settlement-interval-ms", "0"],
      { handleSignals: false, print: (l) => lines.push(l) },
    );
    const health = await fetch(`${sim.httpUrl}/_sim/health`);
    assert.deepEqual(await health.json(), { status: "ok" });
    await sim.close();
    assert.match(lines[0] ?? "", /carrier network simulator/);
  });
});
