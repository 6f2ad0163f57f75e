/** A staff member's browser in miniature for the back office's pages: a cookie jar, the CSRF token, sign-in. */
import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import { generate } from "otplib";
import { ADMIN_KEY, call } from "../support/app.ts";

export const STAFF_PASSWORD = "correct horse battery staple";

export class StaffVisitor {
  private readonly cookies = new Map<string, string>();
  csrf = "";

  constructor(private readonly app: FastifyInstance) {}

  async request(method: "GET" | "POST", url: string, form?: Record<string, string | string[]>) {
    let payload: string | undefined;
    if (form) {
      const params = new URLSearchParams({ _csrf: this.csrf });
      for (const [name, value] of Object.entries(form))
        for (const v of [value].flat()) params.append(name, v);
      payload = params.toString();
    }
    const response = await this.app.inject({
      method,
      url,
      headers: {
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
        ...(payload === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" }),
      },
      ...(payload === undefined ? {} : { payload }),
    });
    for (const c of response.cookies as Array<{ name: string; value: string }>)
      this.cookies.set(c.name, c.value);
    const token = /name="csrf-token" content="([^"]+)"/.exec(response.body)?.[1];
    if (token) this.csrf = token;
    return response;
  }

  /** The hidden Idempotency-Key of the form that posts to `action` on the last page read. */
  static formKey(html: string, action: string): string {
    const at = html.indexOf(`action="${action}"`);
    assert.ok(at >= 0, `no form posts to ${action}`);
    const key = /name="idempotency_key" value="([^"]+)"/.exec(html.slice(at))?.[1];
    assert.ok(key, `the form to ${action} has no idempotency key`);
    return key;
  }
}

/** Invites a member of a merchant's team with a password and signs them in (password + TOTP). */
export async function signedInStaff(
  app: FastifyInstance,
  input: { email: string; role: string; merchant: string; locale?: string },
): Promise<{ visitor: StaffVisitor; id: string }> {
  const invited = await call<{ staff: { id: string }; totp: { secret: string } }>(app, "POST", "/v1/staff", {
    key: ADMIN_KEY,
    body: { ...input, password: STAFF_PASSWORD, time_zone: "Europe/Paris" },
  });
  assert.equal(invited.status, 201, JSON.stringify(invited.body));
  const visitor = new StaffVisitor(app);
  await visitor.request("GET", "/admin/login");
  const signedIn = await visitor.request("POST", "/admin/login", {
    email: input.email,
    password: STAFF_PASSWORD,
    code: await generate({ secret: invited.body.totp.secret }),
    next: "/admin/payments",
  });
  assert.equal(signedIn.statusCode, 303, signedIn.body);
  return { visitor, id: invited.body.staff.id };
}
