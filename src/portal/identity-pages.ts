import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { identityOf, linkIdentity, type PayerAuth, type Payers, requestLinkCode } from "../payers/index.ts";
import { ApiError } from "../platform/errors.ts";
import { ipCountryFrom } from "../risk/index.ts";

/** What the portal's pages lend these forms (pages.ts): the session, throttle headers, fields. */
export interface PortalKit {
  current(request: FastifyRequest, reply: FastifyReply): Promise<PayerAuth | null>;
  throttleFields(
    reply: FastifyReply,
    edge: "codes" | "signin",
    identity: { kind: string; value: string } | null,
    ip: string,
  ): void;
  throttleMinutes(error: ApiError): number;
  retryAfter(reply: FastifyReply, error: ApiError): void;
  field(body: unknown, name: string): string;
  locale(request: FastifyRequest): string;
}

interface Step {
  step: "contact" | "code";
  contact: string;
  error?: string;
  errorValues?: object;
  status?: number;
}

/**
 * A second number or e-mail address on a signed-in payer's account (issue 14), in two forms: the
 * identity to add (a code is sent to it, like a sign-in code, same throttles and risk rules), then
 * its code. Once proven it is listed on the home page and what it paid shows there too. Refusals
 * are messages on the form: a malformed identity, a wrong or expired code, too many attempts, and
 * (only once the code proved the payer holds it) an identity another account already holds.
 */
export function registerIdentityPages(pages: FastifyInstance, payers: Payers, kit: PortalKit): void {
  const { ctx } = payers;
  const hidden = { schema: { hide: true } } as const;

  function render(reply: FastifyReply, data: Step) {
    return reply.page(
      "portal/templates/identity",
      { signedIn: true, ...data },
      { title: "portal.identity.title", status: data.status ?? 200, styles: ["portal.css"] },
    );
  }

  function parse(contact: string): ReturnType<typeof identityOf> | null {
    try {
      return identityOf(contact.includes("@") ? { email: contact } : { msisdn: contact });
    } catch (error) {
      if (error instanceof ApiError) return null;
      throw error;
    }
  }

  function throttled(reply: FastifyReply, error: ApiError, data: Step) {
    kit.retryAfter(reply, error);
    return render(reply, {
      ...data,
      error: "portal.error.throttled",
      errorValues: { minutes: kit.throttleMinutes(error) },
      status: 429,
    });
  }

  pages.get("/portal/identities/new", hidden, async (request, reply) => {
    if (!(await kit.current(request, reply))) return reply.redirect("/portal", 303);
    return render(reply, { step: "contact", contact: "" });
  });

  pages.post("/portal/identities/code", hidden, async (request, reply) => {
    if (!(await kit.current(request, reply))) return reply.redirect("/portal", 303);
    const contact = kit.field(request.body, "contact");
    const identity = parse(contact);
    if (!identity) {
      kit.throttleFields(reply, "codes", null, request.ip);
      return render(reply, { step: "contact", contact, error: "portal.error.contact", status: 400 });
    }
    try {
      await requestLinkCode(
        ctx,
        { [identity.kind]: identity.value, locale: kit.locale(request) },
        request.ip,
        ipCountryFrom(request.headers, ctx.ipCountryHeader),
      );
      kit.throttleFields(reply, "codes", identity, request.ip);
      return render(reply, { step: "code", contact: identity.value });
    } catch (error) {
      kit.throttleFields(reply, "codes", identity, request.ip);
      if (error instanceof ApiError && error.code === "rate_limited")
        return throttled(reply, error, { step: "contact", contact });
      throw error;
    }
  });

  pages.post("/portal/identities", hidden, async (request, reply) => {
    const auth = await kit.current(request, reply);
    if (!auth) return reply.redirect("/portal", 303);
    const contact = kit.field(request.body, "contact");
    const code = kit.field(request.body, "code").replace(/\s/g, "");
    const identity = parse(contact);
    if (!identity)
      return render(reply, { step: "contact", contact, error: "portal.error.contact", status: 400 });
    try {
      await linkIdentity(
        ctx,
        auth,
        { [identity.kind]: identity.value, code },
        request.ip,
        ipCountryFrom(request.headers, ctx.ipCountryHeader),
      );
      kit.throttleFields(reply, "signin", identity, request.ip);
      return reply.redirect("/portal?done=identity#identities", 303);
    } catch (error) {
      kit.throttleFields(reply, "signin", identity, request.ip);
      if (!(error instanceof ApiError)) throw error;
      const at = { step: "code" as const, contact: identity.value };
      if (error.code === "rate_limited") return throttled(reply, error, at);
      if (error.code === "payer_exists")
        return render(reply, {
          step: "contact",
          contact: identity.value,
          error: identity.kind === "msisdn" ? "portal.identity.taken_msisdn" : "portal.identity.taken_email",
          status: 409,
        });
      return render(reply, { ...at, error: "portal.error.code", status: 401 });
    }
  });
}
