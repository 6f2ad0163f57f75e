import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import { ADMIN_KEY, call } from "../support/app.ts";

/** Helpers shared by the payers' tests. */

export type Session = { token: string; refresh_token: string; expires_at: string; payer: { id: string } };

/** The latest code the development catcher kept for a recipient. */
export async function caughtCode(app: FastifyInstance, to: string): Promise<string> {
  const r = await call<{ data: Array<{ body: string; kind: string }> }>(
    app,
    "GET",
    `/v1/test_helpers/messages?to=${encodeURIComponent(to)}&limit=1`,
    { key: ADMIN_KEY },
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const body = r.body.data[0]?.body ?? "";
  const code = /\b(\d{6})\b/.exec(body)?.[1];
  assert.ok(code, `a code in ${JSON.stringify(body)}`);
  return code;
}

/** Signs in with a code sent to an MSISDN or an e-mail address, read back from the catcher. */
export async function signInWithCode(
  app: FastifyInstance,
  identity: { msisdn: string } | { email: string },
  headers: Record<string, string> = {},
): Promise<Session> {
  const sent = await call(app, "POST", "/v1/payer_sessions/codes", { body: identity, headers });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const to = "msisdn" in identity ? identity.msisdn : identity.email;
  const code = await caughtCode(app, to);
  const session = await call<Session>(app, "POST", "/v1/payer_sessions", {
    body: { ...identity, code },
    headers,
  });
  assert.equal(session.status, 201, JSON.stringify(session.body));
  return session.body;
}

export function payerCall<T = Record<string, unknown>>(
  app: FastifyInstance,
  token: string,
  method: "GET" | "POST" | "DELETE",
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  return call<T>(app, method, url, {
    headers: { authorization: `Bearer ${token}`, ...headers },
    ...(body === undefined ? {} : { body }),
  });
}
