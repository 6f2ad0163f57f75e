import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type CountryCode,
  getCountryCallingCode,
  getExampleNumber,
  isSupportedCountry,
  parsePhoneNumberFromString,
} from "libphonenumber-js";
import mobileExamples from "libphonenumber-js/mobile/examples";
import {
  getOperator,
  hasPinStep,
  resolveOperator,
  sendTestMo,
  testNetworkCode,
  testNumberCountry,
} from "../../connectors/index.ts";
import { confirmPayment } from "../../payments/index.ts";
import { ApiError } from "../../platform/errors.ts";
import { addRateLimitHeaders } from "../../web/index.ts";
import { abandonPayment, followPayment, PaymentInFlight, SessionClosed, startPayment } from "../attempts.ts";
import { carrierRules } from "../country-rules.ts";
import { type PageKit, paymentInFlight, type SessionView } from "../page-kit.ts";
import { THROTTLE_LIMITS } from "../throttle.ts";
import type { MethodModule } from "./registry.ts";

/**
 * Carrier billing on the hosted page. The payer is recognized (header enrichment from a trusted
 * operator proxy, or a PIN-confirmed number from another of the merchant's apps) and confirms in
 * one click, or types the number; then the operator's PIN, or the MO text where the operator has
 * no PIN consent. Countries that ask for it get a second confirmation with the price first.
 */

const PAYER_COOKIE = "centime_payer";

type Recognized = { msisdn: string; operator: string | null; via: "enrichment" | "consent" };

/** "06 •• •• 56 78": enough for the payer to recognize their number, not enough to learn it. */
export function maskMsisdn(msisdn: string): string {
  const parsed = parsePhoneNumberFromString(msisdn);
  const text = parsed ? parsed.formatNational() : msisdn;
  const digits = [...text].filter((c) => /\d/.test(c)).length;
  let seen = 0;
  return [...text]
    .map((c) => {
      if (!/\d/.test(c)) return c;
      seen++;
      return seen <= 2 || seen > digits - 4 ? c : "•";
    })
    .join("");
}

function defaultCountry(view: SessionView, request: FastifyRequest): CountryCode | undefined {
  const fromPayer = view.session.payer.country;
  if (fromPayer && isSupportedCountry(fromPayer)) return fromPayer;
  const region = /^[a-z]{2,3}-([A-Z]{2})/i.exec(request.headers["accept-language"] ?? "")?.[1]?.toUpperCase();
  return region && isSupportedCountry(region) ? region : undefined;
}

/** A mobile number of the payer's country, as they would type it with its code ("+33 6 12 34 56 78"). */
export function exampleNumber(country: CountryCode | undefined): string | undefined {
  return country ? getExampleNumber(country, mobileExamples)?.formatInternational() : undefined;
}

async function recognize(
  kit: PageKit,
  view: SessionView,
  request: FastifyRequest,
): Promise<Recognized | null> {
  const { enrichment } = kit.ctx.settings;
  // Only an operator's proxy may say who the payer is; anyone else could send the header.
  if (enrichment.proxies.size > 0 && enrichment.proxies.has(request.ip)) {
    const msisdn = request.headers[enrichment.msisdnHeader];
    const operator = request.headers[enrichment.operatorHeader];
    if (typeof msisdn === "string") {
      const parsed = parsePhoneNumberFromString(msisdn.startsWith("+") ? msisdn : `+${msisdn}`);
      if (parsed?.isPossible())
        return {
          msisdn: parsed.number,
          operator: typeof operator === "string" ? operator.replace(/\D/g, "") : null,
          via: "enrichment",
        };
    }
  }
  const cookie = request.cookies?.[PAYER_COOKIE];
  const unsigned = cookie ? request.unsignCookie(cookie) : null;
  if (unsigned?.valid && unsigned.value) {
    const { rows } = await kit.ctx.db.query<{ msisdn: string; operator: string }>(
      `select msisdn, operator from checkout_payer_consents
        where id = $1 and merchant_id = $2 and mode = $3 and expires_at > $4`,
      [unsigned.value, view.session.merchant_id, view.session.mode, new Date(kit.ctx.clock.nowMs())],
    );
    if (rows[0]) return { msisdn: rows[0].msisdn, operator: rows[0].operator, via: "consent" };
  }
  return null;
}

function renderEntry(
  kit: PageKit,
  reply: FastifyReply,
  view: SessionView,
  request: FastifyRequest,
  data: { error?: string; value?: string; status?: number },
) {
  const country = defaultCountry(view, request);
  return kit.render(
    reply,
    view,
    "checkout/templates/carrier-msisdn",
    {
      error: data.error ?? null,
      value: data.value ?? view.session.payer.msisdn ?? "",
      prefix: country ? `+${getCountryCallingCode(country)}` : null,
      // Null: the locale's own example (the country is unknown or has none).
      example: exampleNumber(country) ?? null,
    },
    { title: "checkout.method.carrier", status: data.status ?? (data.error ? 400 : 200) },
  );
}

function tooMany(kit: PageKit, reply: FastifyReply, view: SessionView, retryAfterSeconds: number) {
  reply.header("retry-after", String(retryAfterSeconds));
  return kit.render(
    reply,
    view,
    "checkout/templates/throttled",
    { minutes: Math.max(1, Math.ceil(retryAfterSeconds / 60)) },
    { title: "checkout.throttled.title", status: 429 },
  );
}

/** Why a number cannot pay, in one message whatever the reason (no operator, lookup failed, …). */
const UNIFORM_NUMBER_ERROR = "carrier.error.number_unusable";

const DECLINE_MESSAGES: Record<string, string> = {
  insufficient_funds: "carrier.declined.insufficient_funds",
  pin_attempts_exceeded: "carrier.declined.pin_attempts",
};

const KNOWN_ERRORS = new Set([...Object.values(DECLINE_MESSAGES), "carrier.declined.generic"]);

async function begin(
  kit: PageKit,
  request: FastifyRequest,
  reply: FastifyReply,
  view: SessionView,
  input: { msisdn: string; operator: string | null; confirmed: boolean },
) {
  const ctx = kit.ctx;
  const nowMs = ctx.clock.nowMs();
  const limit = kit.throttle.take(
    [
      { key: `msisdn-session:${view.session.id}`, max: THROTTLE_LIMITS.msisdn_entries_per_session_max },
      { key: `msisdn-ip:${kit.clientIp(request)}`, max: THROTTLE_LIMITS.msisdn_entries_per_ip_hour_max },
      { key: `msisdn:${input.msisdn}`, max: THROTTLE_LIMITS.msisdn_entries_per_msisdn_hour_max },
    ],
    nowMs,
  );
  // Each number entered may text a code to it: the per-number quota is announced on every answer.
  const perNumber = THROTTLE_LIMITS.msisdn_entries_per_msisdn_hour_max;
  addRateLimitHeaders(
    reply,
    kit.throttle.policyHeader("per-msisdn", perNumber),
    kit.throttle.stateHeader("per-msisdn", `msisdn:${input.msisdn}`, perNumber, nowMs),
  );
  if (!limit.allowed) return tooMany(kit, reply, view, limit.retryAfterSeconds);
  const resolved = await resolveOperator({
    msisdn: input.msisdn,
    ...(input.operator ? { operator: input.operator } : {}),
    // As the API routes them: test mode accepts the regulators' fiction ranges.
    test_numbers: view.session.mode === "test",
  });
  const country = resolved.status === "resolved" ? resolved.operator.country : null;
  await kit.step(view, "msisdn_entered", {
    method: "carrier",
    country,
    operator: resolved.status === "resolved" ? resolved.operator.id : null,
  });
  if (resolved.status === "failed" || resolved.operator.currency !== view.session.currency)
    return renderEntry(kit, reply, view, request, { error: UNIFORM_NUMBER_ERROR, value: input.msisdn });
  const operator = resolved.operator;
  const pin = hasPinStep(operator);
  if (!pin && !operator.smpp.shortcode)
    return renderEntry(kit, reply, view, request, { error: UNIFORM_NUMBER_ERROR, value: input.msisdn });
  const rules = carrierRules(operator.country);
  if (rules.doubleOptIn && !input.confirmed) {
    // The confirmation is a page of its own (POST, redirect, GET): shown as the answer to this
    // POST, Back from the code or text page landed on the browser's "Confirm form resubmission"
    // error. The number crosses the redirect sealed, never readable in the URL or a log line.
    const sealed = kit.seal(view, JSON.stringify({ msisdn: resolved.msisdn, operator: operator.id }));
    return reply.redirect(`/checkout/${view.session.id}/carrier/confirm?number=${sealed}`, 303);
  }
  try {
    const { payment, session } = await startPayment(
      ctx,
      view.session,
      {
        type: "carrier",
        msisdn: resolved.msisdn,
        operator: operator.id,
        ...(pin ? {} : { flow: "mo" as const }),
      },
      "carrier",
      kit.payer(request),
    );
    view.session = session;
    const details = { method: "carrier", operator: operator.id, country: operator.country };
    if (payment.next_action?.type === "enter_pin") await kit.step(view, "pin_sent", details);
    if (payment.next_action?.type === "send_mo") await kit.step(view, "mo_instructions_shown", details);
    if (payment.status === "failed") {
      const key = DECLINE_MESSAGES[payment.failure_code ?? ""] ?? "carrier.declined.generic";
      return renderEntry(kit, reply, view, request, { error: key, value: input.msisdn, status: 402 });
    }
    return reply.redirect(kit.nextUrl(view, payment), 303);
  } catch (error) {
    if (error instanceof PaymentInFlight || error instanceof SessionClosed)
      return reply.redirect(`/checkout/${view.session.id}`, 303);
    if (error instanceof ApiError && error.status < 500)
      return renderEntry(kit, reply, view, request, { error: UNIFORM_NUMBER_ERROR, value: input.msisdn });
    throw error;
  }
}

function register(pages: FastifyInstance, kit: PageKit): void {
  const ctx = kit.ctx;
  const form = { config: { csrf: false }, schema: { hide: true } } as const;
  const base = (view: SessionView) => `/checkout/${view.session.id}`;

  pages.get("/checkout/:id/carrier", { schema: { hide: true } }, async (request, reply) => {
    const view = await kit.load(request);
    const payment = await paymentInFlight(kit, view);
    if (view.session.status !== "open" || payment) return reply.redirect(kit.nextUrl(view, payment), 303);
    if (!view.session.payment_method_types.includes("carrier")) return reply.redirect(base(view), 303);
    await kit.step(view, "method_chosen", { method: "carrier" });
    const query = request.query as { other?: string; error?: string };
    const recognized = query.other ? null : await recognize(kit, view, request);
    if (recognized) {
      const operator = recognized.operator ? getOperator(recognized.operator) : undefined;
      return kit.render(
        reply,
        view,
        "checkout/templates/carrier-oneclick",
        {
          masked: maskMsisdn(recognized.msisdn),
          operatorName: operator ? (operator.brand ?? operator.name) : null,
        },
        { title: "checkout.method.carrier" },
      );
    }
    const error = query.error && KNOWN_ERRORS.has(query.error) ? query.error : undefined;
    return renderEntry(kit, reply, view, request, error ? { error, status: 200 } : {});
  });

  pages.post("/checkout/:id/carrier/start", form, async (request, reply) => {
    const view = await kit.load(request);
    kit.checkForm(request, view);
    if (view.session.status !== "open") return reply.redirect(kit.nextUrl(view), 303);
    const body = request.body as {
      msisdn?: string;
      operator?: string;
      recognized?: string;
      confirmed?: string;
    };
    const confirmed = body.confirmed === "yes";
    if (body.recognized === "yes") {
      // The number is taken from the proxy's header or the consent cookie again, never from the form.
      const recognized = await recognize(kit, view, request);
      if (!recognized) return reply.redirect(`${base(view)}/carrier?other=1`, 303);
      return begin(kit, request, reply, view, {
        msisdn: recognized.msisdn,
        operator: recognized.operator,
        confirmed,
      });
    }
    const raw = (body.msisdn ?? "").trim();
    const parsed =
      raw.length <= 32 ? parsePhoneNumberFromString(raw, defaultCountry(view, request) ?? "GB") : undefined;
    // Valid for the country's numbering plan, not merely of a possible length; in test mode the
    // documented fiction ranges too (Ofcom's 07700 900xxx has no country in libphonenumber), as
    // the API accepts them.
    const testNumber = view.session.mode === "test" && parsed && testNumberCountry(parsed.number);
    if (!parsed?.isValid() && !testNumber)
      return renderEntry(kit, reply, view, request, { error: "carrier.error.msisdn_format", value: raw });
    const operator = body.operator && /^[0-9]{5,6}$/.test(body.operator) ? body.operator : null;
    return begin(kit, request, reply, view, { msisdn: parsed.number, operator, confirmed });
  });

  // The double opt-in's second, explicit confirmation of the number entered (or recognized).
  pages.get("/checkout/:id/carrier/confirm", { schema: { hide: true } }, async (request, reply) => {
    const view = await kit.load(request);
    const payment = await paymentInFlight(kit, view);
    if (view.session.status !== "open" || payment) return reply.redirect(kit.nextUrl(view, payment), 303);
    const sealed = (request.query as { number?: unknown }).number;
    const opened = typeof sealed === "string" ? kit.unseal(view, sealed) : null;
    let pending: { msisdn?: unknown; operator?: unknown } | null = null;
    try {
      pending = opened ? JSON.parse(opened) : null;
    } catch {}
    const operator = typeof pending?.operator === "string" ? getOperator(pending.operator) : undefined;
    if (typeof pending?.msisdn !== "string" || !operator) return reply.redirect(`${base(view)}/carrier`, 303);
    return kit.render(
      reply,
      view,
      "checkout/templates/carrier-confirm",
      {
        msisdn: pending.msisdn,
        operator: operator.id,
        operatorName: operator.brand ?? operator.name,
        masked: maskMsisdn(pending.msisdn),
      },
      { title: "carrier.confirm.title" },
    );
  });

  pages.get("/checkout/:id/carrier/pin", { schema: { hide: true } }, async (request, reply) => {
    const view = await kit.load(request);
    const payment = await paymentInFlight(kit, view);
    if (payment?.next_action?.type !== "enter_pin") return reply.redirect(kit.nextUrl(view, payment), 303);
    const query = request.query as { error?: string; resent?: string };
    const method = payment.payment_method;
    const msisdn = method.type === "carrier" ? method.msisdn : "";
    const createdMs = new Date((payment as { created?: string | Date }).created ?? 0).getTime();
    return kit.render(
      reply,
      view,
      "checkout/templates/carrier-pin",
      {
        masked: maskMsisdn(msisdn),
        attemptsLeft: payment.next_action.enter_pin.attempts_remaining,
        error:
          query.error === "incorrect"
            ? "carrier.pin.incorrect"
            : query.error === "format"
              ? "carrier.pin.format"
              : null,
        resent: query.resent === "1",
        canResend:
          view.session.pin_resends < THROTTLE_LIMITS.pin_resends_per_session_max &&
          ctx.clock.nowMs() - createdMs >= THROTTLE_LIMITS.pin_resend_delay_ms,
        resendAfterSeconds: Math.round(THROTTLE_LIMITS.pin_resend_delay_ms / 1000),
        testCode: testPageHelp(view) ? testNetworkCode() : undefined,
      },
      { title: "carrier.pin.label", status: query.error ? 400 : 200 },
    );
  });

  pages.post("/checkout/:id/carrier/pin", form, async (request, reply) => {
    const view = await kit.load(request);
    kit.checkForm(request, view);
    const payment = await paymentInFlight(kit, view);
    if (payment?.next_action?.type !== "enter_pin") return reply.redirect(kit.nextUrl(view, payment), 303);
    const pin = String((request.body as { pin?: unknown }).pin ?? "").replace(/\s/g, "");
    if (!/^[0-9]{4,8}$/.test(pin)) return reply.redirect(`${base(view)}/carrier/pin?error=format`, 303);
    const method = payment.payment_method;
    const msisdn = method.type === "carrier" ? method.msisdn : "";
    const operator = method.type === "carrier" ? method.operator : null;
    const limit = kit.throttle.take(
      [
        { key: `pin-session:${view.session.id}`, max: THROTTLE_LIMITS.pin_attempts_per_session_max },
        { key: `pin-ip:${kit.clientIp(request)}`, max: THROTTLE_LIMITS.pin_attempts_per_ip_hour_max },
        { key: `pin-msisdn:${msisdn}`, max: THROTTLE_LIMITS.pin_attempts_per_msisdn_hour_max },
      ],
      ctx.clock.nowMs(),
    );
    if (!limit.allowed) return tooMany(kit, reply, view, limit.retryAfterSeconds);
    const scope = { merchantId: view.session.merchant_id, mode: view.session.mode };
    let answer: { statusCode: number; body: string };
    try {
      answer = await confirmPayment(ctx.payments, scope, payment.id, { pin }, undefined, kit.payer(request));
    } catch (error) {
      if (error instanceof ApiError && error.status < 500)
        return reply.redirect(kit.nextUrl(view, payment), 303);
      throw error;
    }
    const details = { method: "carrier", operator };
    if (answer.statusCode === 402) {
      await kit.step(view, "pin_rejected", details);
      return reply.redirect(`${base(view)}/carrier/pin?error=incorrect`, 303);
    }
    const confirmed = JSON.parse(answer.body) as { status?: string };
    if (confirmed.status === "succeeded" || confirmed.status === "processing")
      await kit.step(view, "pin_accepted", details);
    const followed = await followPayment(ctx, view.session.id, payment.id);
    view.session = followed.session;
    if (followed.session.status === "complete") {
      const { rows } = await ctx.db.query<{ id: string }>(
        "select id from checkout_payer_consents where session_id = $1 order by id desc limit 1",
        [view.session.id],
      );
      if (rows[0])
        reply.setCookie(PAYER_COOKIE, rows[0].id, {
          path: "/checkout",
          signed: true,
          httpOnly: true,
          sameSite: "lax",
          secure: ctx.publicUrl().startsWith("https:"),
          maxAge: Math.floor(ctx.settings.consentValidityMs / 1000),
        });
    }
    if (followed.payment.status === "failed") {
      const key = DECLINE_MESSAGES[followed.payment.failure_code ?? ""] ?? "carrier.declined.generic";
      return reply.redirect(`${base(view)}/carrier?error=${key}`, 303);
    }
    return reply.redirect(kit.nextUrl(view, followed.payment), 303);
  });

  // A new code: the waiting payment is canceled and a new one asks the operator again.
  pages.post("/checkout/:id/carrier/resend", form, async (request, reply) => {
    const view = await kit.load(request);
    kit.checkForm(request, view);
    const payment = await paymentInFlight(kit, view);
    if (payment?.next_action?.type !== "enter_pin" || payment.payment_method.type !== "carrier")
      return reply.redirect(kit.nextUrl(view, payment), 303);
    const createdMs = new Date((payment as { created?: string | Date }).created ?? 0).getTime();
    if (
      view.session.pin_resends >= THROTTLE_LIMITS.pin_resends_per_session_max ||
      ctx.clock.nowMs() - createdMs < THROTTLE_LIMITS.pin_resend_delay_ms
    )
      return reply.redirect(`${base(view)}/carrier/pin`, 303);
    const { msisdn, operator } = payment.payment_method;
    // A new code is one more text to the number: it counts against the number's quota.
    const perNumber = THROTTLE_LIMITS.msisdn_entries_per_msisdn_hour_max;
    const nowMs = ctx.clock.nowMs();
    const limit = kit.throttle.take([{ key: `msisdn:${msisdn}`, max: perNumber }], nowMs);
    addRateLimitHeaders(
      reply,
      kit.throttle.policyHeader("per-msisdn", perNumber),
      kit.throttle.stateHeader("per-msisdn", `msisdn:${msisdn}`, perNumber, nowMs),
    );
    if (!limit.allowed) return tooMany(kit, reply, view, limit.retryAfterSeconds);
    await ctx.db.query("update checkout_sessions set pin_resends = pin_resends + 1 where id = $1", [
      view.session.id,
    ]);
    view.session = await abandonPayment(ctx, view.session);
    try {
      const started = await startPayment(
        ctx,
        view.session,
        { type: "carrier", msisdn, operator },
        "carrier",
        kit.payer(request),
      );
      if (started.payment.next_action?.type === "enter_pin")
        await kit.step(view, "pin_sent", { method: "carrier", operator });
      return reply.redirect(`${kit.nextUrl(view, started.payment)}?resent=1`, 303);
    } catch (error) {
      if (error instanceof PaymentInFlight || error instanceof SessionClosed || error instanceof ApiError)
        return reply.redirect(base(view), 303);
      throw error;
    }
  });

  pages.get("/checkout/:id/carrier/mo", { schema: { hide: true } }, async (request, reply) => {
    const view = await kit.load(request);
    const payment = await paymentInFlight(kit, view);
    if (payment?.next_action?.type !== "send_mo") return reply.redirect(kit.nextUrl(view, payment), 303);
    const query = request.query as { test_sent?: string };
    return kit.render(
      reply,
      view,
      "checkout/templates/carrier-mo",
      {
        shortcode: payment.next_action.send_mo.shortcode,
        keyword: payment.next_action.send_mo.keyword,
        testSend: testPageHelp(view),
        testSent: query.test_sent === "1",
      },
      { title: "carrier.mo.title", refreshSeconds: 5 },
    );
  });

  // Test mode on the simulator: the page sends the text in place of the payer's phone.
  pages.post("/checkout/:id/carrier/mo/test", form, async (request, reply) => {
    const view = await kit.load(request);
    kit.checkForm(request, view);
    if (!testPageHelp(view)) return reply.callNotFound();
    const payment = await paymentInFlight(kit, view);
    if (payment?.next_action?.type !== "send_mo" || payment.payment_method.type !== "carrier")
      return reply.redirect(kit.nextUrl(view, payment), 303);
    const { msisdn, operator } = payment.payment_method;
    await sendTestMo({
      operator: operator ?? "",
      msisdn,
      shortcode: payment.next_action.send_mo.shortcode,
      text: payment.next_action.send_mo.keyword,
    });
    return reply.redirect(`${base(view)}/carrier/mo?test_sent=1`, 303);
  });
}

/**
 * Test-mode sessions on the test network (the simulator) get help no payer needs: the code the
 * simulator texts, and a button that sends the MO text. Never in live mode.
 */
function testPageHelp(view: SessionView): boolean {
  return view.session.mode === "test" && testNetworkCode() !== undefined;
}

export const carrierMethod: MethodModule = {
  type: "carrier",
  labelKey: "checkout.method.carrier",
  available: () => true,
  register,
};
