/**
 * Goal: a payer's monthly cap holds across API processes. Two app instances over one database
 * (each with its own PayerLimits, so nothing in memory is shared, as between two processes)
 * charge one payer at once, alternating, many more times than the cap allows: the charges that
 * succeed never add up past the cap, and exactly as many as fit succeed. On PostgreSQL the
 * advisory lock per payer is what decides; on the embedded database the two share one connection.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import type { Db } from "../../src/db/db.ts";
import { openPostgres } from "../../src/db/postgres.ts";
import { buildApp } from "../../src/http/app.ts";
import { type Config, configFromEnv } from "../../src/platform/config.ts";
import { createLogger } from "../../src/platform/log.ts";
import { createServices, type Services } from "../../src/services.ts";
import { ADMIN_KEY, call, createMerchant, type MerchantKeys } from "../support/app.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import { payerCall, signInWithCode } from "./support.ts";

let database: TestDatabase;
let secondPool: Db | undefined;
const instances: Array<{ app: FastifyInstance; services: Services }> = [];
let merchant: MerchantKeys;
const MSISDN = "+4915112348001";

before(async () => {
  database = await openTestDatabase();
  const config: Config = {
    ...configFromEnv({}),
    adminKey: ADMIN_KEY,
    logLevel: "silent",
    rateLimitPerSecond: 0,
    pageRateLimitPerSecond: 0,
  };
  if (database.url) secondPool = await openPostgres({ url: database.url });
  for (const db of [database.db, secondPool ?? database.db]) {
    const services = createServices({ config, db, logger: createLogger("silent") });
    instances.push({ app: await buildApp(services), services });
  }
  merchant = await createMerchant(instances[0]!.app, "Capped studio");
});
after(async () => {
  for (const { app, services } of instances) {
    await app.close();
    await services.committer.close();
  }
  await secondPool?.close();
  await database.close();
});

test("two app instances charging one payer at once never pass the monthly cap", async () => {
  const [one, two] = [instances[0]!.app, instances[1]!.app];
  const payer = await signInWithCode(one, { msisdn: MSISDN });
  const cap = 1000;
  const set = await payerCall(two, payer.token, "POST", "/v1/payer/account", { monthly_caps: { EUR: cap } });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const customer = await call<{ id: string }>(one, "POST", "/v1/customers", {
    key: merchant.secretKey,
    body: { msisdn: MSISDN },
  });
  assert.equal(customer.status, 201);

  const amount = 300; // 3 fit under 1,000; 12 are tried, 6 through each instance, all at once.
  const attempts = Array.from({ length: 12 }, (_, i) =>
    call<{ id: string; status: string; failure_code: string | null }>(
      i % 2 === 0 ? one : two,
      "POST",
      "/v1/payments",
      {
        key: merchant.secretKey,
        body: {
          amount,
          currency: "EUR",
          customer: customer.body.id,
          payment_method: { type: "sandbox", scenario: "approve" },
        },
      },
    ),
  );
  const results = await Promise.all(attempts);
  for (const r of results) assert.equal(r.status, 201, JSON.stringify(r.body));
  const succeeded = results.filter((r) => r.body.status === "succeeded");
  const refused = results.filter((r) => r.body.failure_code === "payer_cap_exceeded");
  assert.ok(succeeded.length * amount <= cap, `${succeeded.length} × ${amount} passed a cap of ${cap}`);
  assert.equal(succeeded.length, 3, "as many as fit");
  assert.equal(refused.length, 9);

  // What the database holds agrees: this month's captured sum for the payer is within the cap.
  const { rows } = await database.db.query<{ spent: string | number | null }>(
    `select sum(amount_captured) as spent from payments
      where customer_id = $1 and status = 'succeeded'`,
    [customer.body.id],
  );
  assert.equal(Number(rows[0]?.spent ?? 0), 900);
});
