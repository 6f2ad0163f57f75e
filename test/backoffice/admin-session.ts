/**
 * A staff member's browser over `inject()`: signs in through /admin/login (password and TOTP),
 * keeps the cookies, and posts forms with the page's CSRF token, as a browser would.
 */
import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import { generate } from "otplib";
import { ADMIN_KEY, call } from "../support/app.ts";

export const PASSWORD = "correct horse battery staple";

export interface PageReply {
  status: number;
  location: string | undefined;
  body: string;
}

export class AdminSession {
  private readonly cookies = new Map<string, string>();
  private token = "";

  constructor(private readonly app: FastifyInstance) {}

  async get(url: string): Promise<PageReply> {
    return this.send("GET", url);
  }

  /** Posts a form with the CSRF token of the last page read. */
  async post(url: string, form: Record<string, string> = {}): Promise<PageReply> {
    return this.send("POST", url, new URLSearchParams({ _csrf: this.token, ...form }).toString());
  }

  private async send(method: "GET" | "POST", url: string, payload?: string): Promise<PageReply> {
    const response = await this.app.inject({
      method,
      url,
      headers: {
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
        ...(payload === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" }),
      },
      ...(payload === undefined ? {} : { payload }),
    });
    for (const c of response.cookies as Array<{ name: string; value: string }>) {
      if (c.value === "") this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    const token = /name="_csrf" value="([^"]+)"/.exec(response.body)?.[1];
    if (token) this.token = token;
    const location = response.headers.location;
    return {
      status: response.statusCode,
      location: typeof location === "string" ? location : undefined,
      body: response.body,
    };
  }
}

/** Invites a staff member (of a merchant, or the platform's when `merchant` is null) and signs them in. */
export async function signedIn(
  app: FastifyInstance,
  who: { email: string; role: string; merchant: string | null; locale?: string },
): Promise<{ session: AdminSession; apiKey: string; id: string }> {
  const invited = await call<{ staff: { id: string }; api_key: string; totp: { secret: string } }>(
    app,
    "POST",
    "/v1/staff",
    {
      key: ADMIN_KEY,
      body: {
        email: who.email,
        role: who.role,
        password: PASSWORD,
        ...(who.merchant ? { merchant: who.merchant } : {}),
        ...(who.locale ? { locale: who.locale } : {}),
        time_zone: "Europe/Paris",
      },
    },
  );
  assert.equal(invited.status, 201, JSON.stringify(invited.body));
  const session = new AdminSession(app);
  assert.equal((await session.get("/admin/login")).status, 200);
  const signIn = await session.post("/admin/login", {
    email: who.email,
    password: PASSWORD,
    code: await generate({ secret: invited.body.totp.secret }),
    next: "/admin/customers",
  });
  assert.equal(signIn.status, 303, signIn.body);
  assert.equal(signIn.location, "/admin/customers");
  return { session, apiKey: invited.body.api_key, id: invited.body.staff.id };
}
