/** Over HTTP, a webhook endpoint's event types are the catalogue's (the OpenAPI document lists them). */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { EVENT_TYPES } from "../../src/events/types.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;
before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

test("an unknown event type is refused with 400 naming the entry; the document lists the types", async () => {
  const r = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/webhook_endpoints", {
    key: m.secretKey,
    body: { url: "https://hooks.example.com/x", events: ["payment.succeeded", "payment.succeded"] },
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.param, "events[1]");
  const ok = await call(t.app, "POST", "/v1/webhook_endpoints", {
    key: m.secretKey,
    body: { url: "https://hooks.example.com/y", events: ["*", "refund.created"] },
  });
  assert.equal(ok.status, 201);
  const document = (await call(t.app, "GET", "/openapi.json")).body as {
    paths: Record<string, { post?: { requestBody?: { content: Record<string, { schema: unknown }> } } }>;
  };
  const schema =
    document.paths["/v1/webhook_endpoints"]!.post!.requestBody!.content["application/json"]!.schema;
  assert.deepEqual(
    (schema as { properties: { events: { items: { enum: string[] } } } }).properties.events.items.enum,
    ["*", ...EVENT_TYPES],
  );
});
