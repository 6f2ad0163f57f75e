/**
 * The second factor: a TOTP code signs in once (a replay inside its 30-second window is refused),
 * and the secrets are encrypted at rest under CENTIME_TOTP_KEY, bound to their staff member.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { generate } from "otplib";
import { StaffSessions } from "../../src/backoffice/sessions.ts";
import { ADMIN_KEY, call, createTestApp, type TestApp } from "../support/app.ts";

let t: TestApp;
let sessions: StaffSessions;
const PASSWORD = "correct horse battery staple";

before(async () => {
  t = await createTestApp({ config: { totpKey: randomBytes(32).toString("base64") } });
  sessions = new StaffSessions(t.services.db, t.clock, t.services.staff);
});
after(() => t.close());

async function invite(email: string) {
  const r = await call<{ staff: { id: string }; totp: { secret: string } }>(t.app, "POST", "/v1/staff", {
    key: ADMIN_KEY,
    body: { email, role: "support", password: PASSWORD },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { email, id: r.body.staff.id, secret: r.body.totp.secret };
}

test("a code signs in once: the same code again, in its window, is refused", async () => {
  const who = await invite("once@centime.example");
  const code = await generate({ secret: who.secret });
  const first = await sessions.signIn({ email: who.email, password: PASSWORD, code, ip: "192.0.2.1" });
  assert.equal(first.ok, true);
  const replay = await sessions.signIn({ email: who.email, password: PASSWORD, code, ip: "192.0.2.2" });
  assert.deepEqual(replay, { ok: false, reason: "invalid" });
  // A wrong password does not burn the code: the owner of the code can still use it later.
  const other = await invite("other@centime.example");
  const otherCode = await generate({ secret: other.secret });
  const wrong = await sessions.signIn({
    email: other.email,
    password: "not it",
    code: otherCode,
    ip: "192.0.2.3",
  });
  assert.equal(wrong.ok, false);
  const right = await sessions.signIn({
    email: other.email,
    password: PASSWORD,
    code: otherCode,
    ip: "192.0.2.3",
  });
  assert.equal(right.ok, true);
});

test("secrets are stored encrypted and do not open on another staff member's row", async () => {
  const a = await invite("a@centime.example");
  const b = await invite("b@centime.example");
  const { rows } = await t.services.db.query<{ id: string; totp_secret: string }>(
    "select id, totp_secret from staff where id = any($1)",
    [[a.id, b.id]],
  );
  for (const row of rows) {
    assert.match(row.totp_secret, /^enc1:/);
    assert.ok(!row.totp_secret.includes(a.secret) && !row.totp_secret.includes(b.secret));
  }
  // b's row now carries a's sealed secret: a's codes must not sign b in.
  const sealedA = rows.find((r) => r.id === a.id)!.totp_secret;
  await t.services.db.query("update staff set totp_secret = $2 where id = $1", [b.id, sealedA]);
  const swapped = await sessions.signIn({
    email: b.email,
    password: PASSWORD,
    code: await generate({ secret: a.secret }),
    ip: "192.0.2.4",
  });
  assert.equal(swapped.ok, false);
});
