import type { Static } from "@sinclair/typebox";
import { type Api, type Routes, sendJson } from "../http/index.ts";
import { ApiError } from "../platform/errors.ts";
import { ipCountryFrom } from "../risk/index.ts";
import {
  edgeThrottleFields,
  loadPayer,
  presentPayer,
  refreshSession,
  requestCode,
  signInWithCode,
  signInWithPassword,
  signUp,
} from "./accounts.ts";
import { linkIdentity, requestLinkCode } from "./identities.ts";
import type { Payers } from "./index.ts";
import {
  payerConfig,
  payerKeyScope,
  payerOf,
  publicKeyScope,
  runOnce,
  security,
  signUpFingerprint,
  tags,
  withThrottleFields,
} from "./routes-helpers.ts";
import {
  CodeBody,
  LinkIdentityBody,
  Payer,
  PayerCode,
  PayerSession,
  RefreshBody,
  SessionBody,
  SignUpBody,
  withErrors,
} from "./routes-schemas.ts";

/** Who the payer is: sign-up, sign-in (password or one-time code), refresh, the account, linked identities. */
export const accountRoutes: Routes<Payers> = async (app: Api, payers) => {
  const { ctx } = payers;

  app.post(
    "/payers",
    {
      config: payerConfig,
      schema: {
        tags,
        operationId: "createPayer",
        summary: "Create a payer account with an e-mail address and a password (no key needed).",
        description:
          "The address stays unconfirmed (it matches no payments) until the payer signs in once with a code sent to it.",
        security: [],
        body: SignUpBody,
        response: withErrors({ 201: Payer }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "signup", {}, request.ip),
        () =>
          runOnce(
            payers,
            publicKeyScope(request.body),
            request,
            reply,
            async () => ({ status: 201, body: await signUp(ctx, request.body, request.ip) }),
            signUpFingerprint(payers, request.body),
          ),
      ),
  );

  app.post(
    "/payer_sessions/codes",
    {
      config: payerConfig,
      schema: {
        tags,
        operationId: "createPayerCode",
        summary: "Send a one-time sign-in code by SMS to an MSISDN or by e-mail.",
        description:
          "Answers the same whether an account exists or not. A code lives 10 minutes and allows 5 attempts; a new code replaces the last. Throttled per recipient and per address (429).",
        security: [],
        body: CodeBody,
        response: withErrors({ 202: PayerCode }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "codes", request.body, request.ip),
        () =>
          runOnce(payers, publicKeyScope(request.body), request, reply, async () => ({
            status: 202,
            body: await requestCode(
              ctx,
              request.body,
              request.ip,
              ipCountryFrom(request.headers, ctx.ipCountryHeader),
            ),
          })),
      ),
  );

  app.post(
    "/payer_sessions",
    {
      config: payerConfig,
      schema: {
        tags,
        operationId: "createPayerSession",
        summary:
          "Sign in: `{email, password}` or `{msisdn | email, code}` → a short-lived token and a refresh token.",
        description:
          "A code sign-in creates the account on first use and confirms the identity. Failed sign-ins are throttled per subject and per address (429). Never replayed: each request runs, with an Idempotency-Key or not (the answer holds tokens shown once; a code is good once).",
        security: [],
        body: SessionBody,
        response: withErrors({ 201: PayerSession }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "signin", request.body, request.ip),
        () => signIn(request.body, request.ip, ipCountryFrom(request.headers, ctx.ipCountryHeader)),
      ),
  );

  /** `{email, password}` or `{msisdn | email, code}`. */
  async function signIn(
    body: Static<typeof SessionBody>,
    ip: string,
    ipCountry: string | undefined,
  ): Promise<{ status: number; body: unknown }> {
    if (body.code !== undefined) {
      if (body.password !== undefined)
        throw new ApiError("parameter_invalid", "password", "Send a password or a code, not both.");
      return {
        status: 201,
        body: await signInWithCode(ctx, { ...body, code: body.code }, ip, ipCountry),
      };
    }
    if (body.password === undefined)
      throw new ApiError("parameter_missing", "code", "Send a code or a password.");
    if (body.email === undefined) throw new ApiError("parameter_missing", "email");
    if (body.msisdn !== undefined)
      throw new ApiError("parameter_invalid", "msisdn", "Sign in to a number with a code, not a password.");
    return {
      status: 201,
      body: await signInWithPassword(ctx, { email: body.email, password: body.password }, ip, ipCountry),
    };
  }

  app.post(
    "/payer_sessions/refresh",
    {
      config: payerConfig,
      schema: {
        tags,
        operationId: "refreshPayerSession",
        summary: "Exchange a refresh token (good once) for a new session; a reused one revokes its family.",
        description:
          "Never replayed: each request runs, with an Idempotency-Key or not (the answer holds tokens shown once).",
        security: [],
        body: RefreshBody,
        response: withErrors({ 201: PayerSession }),
      },
    },
    async (request, reply) => sendJson(reply, 201, await refreshSession(ctx, request.body)),
  );

  app.get(
    "/payer/account",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "getPayerAccount",
        summary: "The signed-in payer: identities, caps, blocked merchants.",
        response: withErrors({ 200: Payer }),
      },
    },
    async (request, reply) => {
      const payer = await loadPayer(ctx.db, payerOf(request).payerId);
      return sendJson(reply, 200, await presentPayer(ctx.db, payer));
    },
  );

  app.post(
    "/payer/identities/codes",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "createPayerIdentityCode",
        summary: "Send a one-time code to an MSISDN or an e-mail address to add to the signed-in account.",
        description:
          "The code goes by SMS or e-mail like a sign-in code (same throttles per recipient and per address). The answer says nothing about whether another account holds the identity.",
        body: CodeBody,
        response: withErrors({ 202: PayerCode }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "codes", request.body, request.ip),
        () =>
          runOnce(payers, payerKeyScope(request), request, reply, async () => ({
            status: 202,
            body: await requestLinkCode(
              ctx,
              request.body,
              request.ip,
              ipCountryFrom(request.headers, ctx.ipCountryHeader),
            ),
          })),
      ),
  );

  app.post(
    "/payer/identities",
    {
      config: payerConfig,
      schema: {
        tags,
        security,
        operationId: "linkPayerIdentity",
        summary: "Add a second identity (an MSISDN or an e-mail address) to the account, proven by its code.",
        description:
          "Afterwards the payer sees what either identity matches. 409 `payer_exists` (param `msisdn` or `email`) when another account holds it. A wrong code counts as a failed sign-in (429 past the throttles).",
        body: LinkIdentityBody,
        response: withErrors({ 201: Payer }),
      },
    },
    async (request, reply) =>
      withThrottleFields(
        reply,
        () => edgeThrottleFields(ctx, "signin", request.body, request.ip),
        () =>
          runOnce(payers, payerKeyScope(request), request, reply, async () => ({
            status: 201,
            body: await linkIdentity(
              ctx,
              payerOf(request),
              request.body,
              request.ip,
              ipCountryFrom(request.headers, ctx.ipCountryHeader),
            ),
          })),
      ),
  );
};
