/**
 * Goal: with CENTIME_SMTP_URL set, e-mail to payers leaves through that SMTP server (nodemailer),
 * and a delivered sign-in code is not kept in clear (nor caught); the session it opens may show
 * live-mode data. A minimal SMTP server in the test receives the message.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, before, test } from "node:test";
import { smtpChannel } from "../../src/notifications/index.ts";
import { configFromEnv } from "../../src/platform/config.ts";
import { ADMIN_KEY, call, createTestApp, type TestApp } from "../support/app.ts";

let server: Server;
let port = 0;
const received: string[] = [];

/** Just enough SMTP (RFC 5321) for one client: greeting, EHLO, MAIL, RCPT, DATA, QUIT. */
function startSmtp(): Promise<void> {
  server = createServer((socket) => {
    let data = false;
    let buffer = "";
    socket.write("220 test ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      let end = buffer.indexOf("\r\n");
      while (end >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data) {
          if (line === ".") {
            data = false;
            socket.write("250 queued\r\n");
          } else received.push(line);
        } else if (/^EHLO/i.test(line)) socket.write("250-test\r\n250 8BITMIME\r\n");
        else if (/^DATA/i.test(line)) {
          data = true;
          socket.write("354 go on\r\n");
        } else if (/^QUIT/i.test(line)) socket.end("221 bye\r\n");
        else socket.write("250 ok\r\n");
        end = buffer.indexOf("\r\n");
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      port = (server.address() as { port: number }).port;
      resolve();
    }),
  );
}

let t: TestApp;
before(async () => {
  await startSmtp();
  t = await createTestApp({
    config: { smtpUrl: `smtp://127.0.0.1:${port}`, mailFrom: "Centime <hello@centime.test>" },
  });
});
after(async () => {
  await t.close();
  server.close();
});

test("a sign-in code by e-mail goes through the SMTP server; nothing is caught, the code is not stored", async () => {
  const sent = await call<{ delivery: string }>(t.app, "POST", "/v1/payer_sessions/codes", {
    body: { email: "mail@example.com" },
  });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  assert.equal(sent.body.delivery, "sent");
  const text = received.join("\n");
  assert.match(text, /To: mail@example.com/);
  assert.match(text, /From: Centime <hello@centime.test>/);
  const code = /code to sign in to Centime is (\d{6})/.exec(text)?.[1];
  assert.ok(code, text);
  const caught = await call<{ data: unknown[] }>(
    t.app,
    "GET",
    "/v1/test_helpers/messages?to=mail@example.com",
    {
      key: ADMIN_KEY,
    },
  );
  assert.deepEqual(caught.body.data, []);
  const stored = await t.services.db.query<{ body: string; status: string }>(
    "select body, status from payer_messages where recipient = 'mail@example.com'",
  );
  assert.equal(stored.rows[0]!.status, "sent");
  assert.ok(!stored.rows[0]!.body.includes(code), "the delivered code is not kept");
  // A code that really arrived proves the address: the session may show live data.
  const session = await call<{ token: string }>(t.app, "POST", "/v1/payer_sessions", {
    body: { email: "mail@example.com", code },
  });
  assert.equal(session.status, 201);
  const payload = JSON.parse(Buffer.from(session.body.token.split(".")[1]!, "base64url").toString()) as {
    live: boolean;
  };
  assert.equal(payload.live, true);
});

test("an unreachable SMTP server fails the delivery (recorded, never thrown); bad URLs stop the start", async () => {
  const channel = smtpChannel({ url: "smtp://127.0.0.1:1", from: "x@y.test" });
  await assert.rejects(
    channel.deliver({ channel: "email", to: "a@b.test", kind: "k", locale: "en", text: "hi" }),
  );
  channel.close();
  assert.throws(() => configFromEnv({ CENTIME_SMTP_URL: "http://mail.example" }), /CENTIME_SMTP_URL/);
});
