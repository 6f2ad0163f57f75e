/**
 * Goal: no request built from the OpenAPI document's own schemas, however hostile, answers a
 * 5xx, and every 4xx is the error envelope (issue 9, section 5). Seeded and bounded here (about
 * 15 s); `npm run bench:fuzz` runs it for longer. A failure prints the seed and the shrunk
 * request, which replay exactly with FUZZ_SEED and FUZZ_PATH.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { ADMIN_KEY, call, createMerchant, createTestApp, type TestApp } from "../support/app.ts";
import { type FuzzKeys, operationsOf, requestsFor, sendAndCheck, staysInProcess } from "../support/fuzz.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

let t: TestApp;
let keys: FuzzKeys;

before(async () => {
  t = await createTestApp();
  const merchant = await createMerchant(t.app);
  keys = { secret: merchant.secretKey, publishable: merchant.publishableKey, admin: ADMIN_KEY };
});
after(() => t.close());

test(`${RUNS} requests from the OpenAPI schemas: no 5xx, the envelope on every 4xx (seed ${SEED})`, async () => {
  const document = (await call(t.app, "GET", "/openapi.json")).body as Parameters<typeof operationsOf>[0];
  const operations = operationsOf(document);
  assert.ok(operations.length >= 50, `the document lists the API (${operations.length} operations)`);
  const statuses = new Map<number, number>();
  const timings = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(fc.oneof(...operations.map(requestsFor)).filter(staysInProcess), async (request) => {
      const status = await sendAndCheck(t.app, keys, request, timings);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }),
    {
      seed: SEED,
      numRuns: RUNS,
      ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
      endOnFailure: true,
    },
  );
  if (process.env.FUZZ_TIMINGS) console.log([...timings].sort((a, b) => b[1] - a[1]).slice(0, 8));
  // The requests reach the handlers, not only the validators: some of them succeed.
  const succeeded = [...statuses].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0);
  assert.ok(succeeded > RUNS / 20, `some requests succeed: ${JSON.stringify([...statuses])}`);
});
