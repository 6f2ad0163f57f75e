import type { FastifyInstance } from "fastify";
import { startPayment } from "../../src/checkout/attempts.ts";
import type { SessionRow } from "../../src/checkout/model.ts";
import { findSession } from "../../src/checkout/sessions.ts";
import { call, type TestApp } from "../support/app.ts";

/** Helpers shared by the checkout tests. */

export async function createPrice(
  app: FastifyInstance,
  key: string,
  amount: number,
  currency = "EUR",
  name = "Gem pack",
) {
  const product = await call<{ id: string }>(app, "POST", "/v1/products", { key, body: { name } });
  if (product.status !== 201) throw new Error(JSON.stringify(product.body));
  const price = await call<{ id: string }>(app, "POST", "/v1/prices", {
    key,
    body: { product: product.body.id, amount, currency },
  });
  if (price.status !== 201) throw new Error(JSON.stringify(price.body));
  return { product: product.body.id, price: price.body.id };
}

export async function createSessionVia(app: FastifyInstance, key: string, body: Record<string, unknown>) {
  const r = await call<{ id: string; status: string; url: string; client_secret: string; error?: unknown }>(
    app,
    "POST",
    "/v1/checkout_sessions",
    { key, body },
  );
  if (r.status !== 201) throw new Error(`session: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Pays a session through the payments core with the sandbox (test mode), as the page would. */
export async function paySandbox(t: TestApp, sessionId: string, scenario = "approve") {
  const session = (await findSession(t.services.db, sessionId)) as SessionRow;
  return startPayment(t.services.checkout.ctx, session, { type: "sandbox", scenario } as never, "sandbox");
}

/** The path and query of a URL. */
export function pathOf(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}
