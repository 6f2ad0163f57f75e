import type { FastifyInstance } from "fastify";
import { startPayment } from "../../src/checkout/attempts.ts";
import type { SessionRow } from "../../src/checkout/model.ts";
import { findSession } from "../../src/checkout/sessions.ts";
import type { Queryable } from "../../src/db/db.ts";
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

/** `table: row` for every row of every table whose text contains `needle` (a card number, a secret). */
export async function rowsContaining(db: Queryable, needle: string): Promise<string[]> {
  const { rows: tables } = await db.query<{ name: string }>(
    `select quote_ident(table_schema) || '.' || quote_ident(table_name) as name
       from information_schema.tables
      where table_schema not in ('pg_catalog', 'information_schema') and table_type = 'BASE TABLE'`,
  );
  const found: string[] = [];
  for (const { name } of tables) {
    const { rows } = await db.query<{ row: string }>(
      `select t::text as row from ${name} t where strpos(t::text, $1) > 0 limit 3`,
      [needle],
    );
    for (const r of rows) found.push(`${name}: ${r.row.slice(0, 200)}`);
  }
  return found;
}
