/**
 * The soak's traffic besides plain API payments: card numbers that spread over many simulated
 * card accounts, a payer who completes a checkout session through the hosted pages (carrier,
 * operator PIN), and subscriptions on test clocks whose renewals the workers charge when the
 * clocks move.
 */
import { Agent, request } from "node:http";
import type { Platform } from "./platform.ts";

/**
 * The address a payer's browser comes from: one of 127.0.0.0/8 per payer (Linux answers every one
 * of them on the loopback interface), so the pages' per-address limits and code throttles see many
 * payers, as they would on the internet, rather than one address sending every checkout.
 * 127.1.0.1 upwards: never 127.0.0.1 (the API's own requests) nor a .0 or .255 address.
 */
export function payerAddress(index: number): string {
  const n = index % (250 * 250 * 250);
  return `127.${1 + Math.floor(n / 62_500)}.${Math.floor(n / 250) % 250}.${1 + (n % 250)}`;
}

interface PageResponse {
  status: number;
  location: string | null;
  setCookies: string[];
  text: string;
}

/** One request of a payer's browser, from its own address (node:http with `localAddress`). */
function fromAddress(
  agent: Agent,
  url: URL,
  method: "GET" | "POST",
  headers: Record<string, string>,
  body: string | undefined,
): Promise<PageResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          ...headers,
          ...(body !== undefined ? { "content-length": String(Buffer.byteLength(body)) } : {}),
        },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const cookies = res.headers["set-cookie"] ?? [];
          resolve({
            status: res.statusCode ?? 0,
            location: typeof res.headers.location === "string" ? res.headers.location : null,
            setCookies: cookies,
            text: Buffer.concat(chunks).toString("utf8"),
          });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** A Luhn-valid test card number per index, never ending in a simulator behaviour (…0001–…0007). */
export function cardNumber(index: number): string {
  const body = `4242${String(index % 100_000_000_000).padStart(11, "0")}`;
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  const number = `${body}${(10 - (sum % 10)) % 10}`;
  return /000[1-7]$/.test(number) ? cardNumber(index + 1_000_000) : number;
}

/** The hidden inputs of the form whose action ends with `action`, and the action itself. */
function formOf(html: string, action: string): Record<string, string> {
  const start = html.indexOf(`${action}"`);
  if (start < 0) throw new Error(`no form posting to ${action}`);
  const end = html.indexOf("</form>", start);
  const fields: Record<string, string> = {};
  for (const m of html.slice(start, end).matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g))
    fields[m[1]!] = m[2]!.replaceAll("&amp;", "&").replaceAll("&#39;", "'").replaceAll("&quot;", '"');
  return fields;
}

/**
 * A payer with a browser's manners (cookies, forms, redirects followed by hand): opens a checkout
 * session's hosted page, picks carrier billing, enters the number and the operator's PIN.
 * Returns the number of page requests made, or throws saying which step failed.
 */
export async function payCheckoutByCarrier(
  api: Platform,
  /** The simulated network's base URL: the payer's phone reads its text messages there. */
  networkUrl: string,
  secretKey: string,
  msisdn: string,
  reference: string,
  /** The payer's own address (payerAddress). */
  address: string,
): Promise<{ sessionId: string; requests: number }> {
  const created = await api.request(
    "POST",
    "/v1/checkout_sessions",
    secretKey,
    { amount: 299, currency: "EUR", description: "Soak pack", payment_method_types: ["carrier"] },
    { "idempotency-key": `soak-cs-${reference}` },
  );
  if (created.status !== 201)
    throw new Error(`checkout session: ${created.status} ${JSON.stringify(created.json)}`);
  const session = created.json as { id: string; url: string };
  const jar = new Map<string, string>();
  let requests = 0;
  // The payer's browser: its own address, one kept-alive connection.
  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: address });
  const go = async (path: string, form?: Record<string, string>) => {
    requests++;
    const response = await fromAddress(
      agent,
      new URL(path, api.url),
      form ? "POST" : "GET",
      {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
        "accept-language": "nl-NL",
        ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
      form ? new URLSearchParams(form).toString() : undefined,
    );
    for (const line of response.setCookies) {
      const [pair] = line.split(";");
      const at = pair!.indexOf("=");
      jar.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
    if (response.status >= 400) throw new Error(`${form ? "POST" : "GET"} ${path}: ${response.status}`);
    return { status: response.status, location: response.location, text: response.text };
  };
  try {
    const base = `/checkout/${session.id}`;
    await go(new URL(session.url).pathname + new URL(session.url).search);
    const method = await go(`${base}/carrier`);
    const started = await go(`${base}/carrier/start`, { ...formOf(method.text, "/carrier/start"), msisdn });
    if (!started.location?.endsWith("/carrier/pin")) throw new Error(`no PIN step (${started.location})`);
    const pinPage = await go(started.location);
    const paid = await go(`${base}/carrier/pin`, {
      ...formOf(pinPage.text, "/carrier/pin"),
      pin: await codeTextedTo(networkUrl, msisdn),
    });
    if (paid.status !== 303 || paid.location?.includes("error"))
      throw new Error(`PIN answered ${paid.status} ${paid.location ?? ""}`);
    return { sessionId: session.id, requests };
  } finally {
    agent.destroy();
  }
}

/** The one-time code in the last text message the number received (waits up to 10 s for it). */
async function codeTextedTo(networkUrl: string, msisdn: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const r = await fetch(`${networkUrl}/_sim/sms?msisdn=${encodeURIComponent(msisdn)}`);
    const { data } = (await r.json()) as { data: Array<{ text: string }> };
    const code = data.length > 0 ? /\b(\d{4,8})\b/.exec(data.at(-1)!.text)?.[1] : undefined;
    if (code) return code;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no code texted to ${msisdn}`);
}

export interface RenewalSet {
  clock: string;
  subscriptions: string[];
  frozenMs: number;
}

/** A test clock and `count` daily subscriptions on it (sandbox, Germany: no double opt-in), each charged at creation. */
export async function subscribeOnClock(
  api: Platform,
  secretKey: string,
  count: number,
  label: string,
): Promise<RenewalSet> {
  const must = async (path: string, body: unknown) => {
    const r = await api.request("POST", path, secretKey, body);
    if (r.status >= 300) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json as { id: string };
  };
  const frozenMs = Date.now();
  const clock = await must("/v1/test_clocks", { frozen_time: new Date(frozenMs).toISOString(), name: label });
  const product = await must("/v1/products", { name: `Daily pass ${label}` });
  const price = await must("/v1/prices", {
    product: product.id,
    amount: 99,
    currency: "EUR",
    recurring: { period: "P1D" },
  });
  const subscriptions: string[] = [];
  for (let i = 0; i < count; i++) {
    const customer = await must("/v1/customers", {
      email: `soak-${label}-${i}@example.com`,
      test_clock: clock.id,
    });
    const sub = await must("/v1/subscriptions", {
      customer: customer.id,
      price: price.id,
      payment_method: { type: "sandbox", scenario: "approve" },
      consent: { method: "api", reference: `soak-${label}-${i}` },
    });
    subscriptions.push(sub.id);
  }
  return { clock: clock.id, subscriptions, frozenMs };
}

/** Moves the clock a day and a half on: every subscription's next period falls due once. */
export async function advanceClock(api: Platform, secretKey: string, set: RenewalSet): Promise<void> {
  const to = new Date(set.frozenMs + 36 * 3_600_000).toISOString();
  const r = await api.request("POST", `/v1/test_clocks/${set.clock}/advance`, secretKey, { frozen_time: to });
  if (r.status >= 300) throw new Error(`advance: ${r.status} ${JSON.stringify(r.json)}`);
}
