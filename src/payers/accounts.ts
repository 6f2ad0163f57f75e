import { normaliseMsisdn } from "../connectors/index.ts";
import type { Queryable } from "../db/db.ts";
import { isUniqueViolation } from "../db/db.ts";
import { messageText } from "../notifications/index.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { CODE_LIMITS, createCode, type Identity, verifyCode } from "./codes.ts";
import type { PayerAuth, PayersContext, SignInAttempt } from "./context.ts";
import { hashPassword, PASSWORD_LIMITS, verifyPassword } from "./passwords.ts";
import { type RateLimitField, throttleKeys } from "./throttle.ts";
import {
  hashRefreshToken,
  newRefreshToken,
  signAccessToken,
  TOKEN_LIMITS,
  verifyAccessToken,
} from "./tokens.ts";

/**
 * Payer accounts and sign-in: e-mail and password (scrypt), or a one-time code to an MSISDN or an
 * e-mail address (which also creates the account and confirms the identity). Sessions are a
 * short-lived signed access token and a refresh token rotated on every use.
 */

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function normaliseEmail(raw: string, param = "email"): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !EMAIL.test(email))
    throw new ApiError("parameter_invalid", param, "Enter an e-mail address like name@example.com.");
  return email;
}

export function normalisePhone(raw: string, param = "msisdn"): string {
  const n = normaliseMsisdn(raw.replace(/[\s().-]/g, ""), { test_numbers: true });
  if (!n)
    throw new ApiError(
      "parameter_invalid",
      param,
      "Enter a mobile number in international format, e.g. +33612345678.",
    );
  return n.msisdn;
}

/** The identity a request names: exactly one of `msisdn` and `email`. */
export function identityOf(input: { msisdn?: string | undefined; email?: string | undefined }): Identity {
  if (input.msisdn !== undefined && input.email !== undefined)
    throw new ApiError("parameter_invalid", "msisdn", "Send either msisdn or email, not both.");
  if (input.msisdn !== undefined) return { kind: "msisdn", value: normalisePhone(input.msisdn) };
  if (input.email !== undefined) return { kind: "email", value: normaliseEmail(input.email) };
  throw new ApiError("parameter_missing", "msisdn", "Send msisdn or email.");
}

/**
 * The throttles a sign-in edge's request counts against, as IETF RateLimit fields, read after the
 * request was handled (what is left for the next one). An identity that does not parse has only
 * its address's counters.
 */
export function edgeThrottleFields(
  ctx: PayersContext,
  edge: "codes" | "signin" | "signup",
  input: { msisdn?: string | undefined; email?: string | undefined },
  ip: string,
): RateLimitField[] {
  const nowMs = ctx.clock.nowMs();
  if (edge === "signup") return ctx.throttle.fields(throttleKeys.signUp(ip), nowMs);
  let identity: Identity | null = null;
  try {
    identity = identityOf(input);
  } catch {
    identity = null;
  }
  if (edge === "signin")
    return ctx.throttle.fields(
      throttleKeys.signIn(identity ? `${identity.kind}:${identity.value}` : null, ip),
      nowMs,
    );
  const keys = identity
    ? throttleKeys.codes(identity, ip)
    : throttleKeys.codes({ kind: "", value: "" }, ip).filter((k) => k.name === "code-ip");
  return ctx.throttle.fields(keys, nowMs);
}

export interface PayerRow {
  id: string;
  email: string | null;
  password_hash: string | null;
  monthly_caps: Record<string, number | string>;
  created: Date;
  updated: Date;
}

interface IdentityRow {
  kind: "msisdn" | "email";
  value: string;
  confirmed_at: Date | null;
  live: boolean;
}

export async function loadPayer(q: Queryable, payerId: string): Promise<PayerRow> {
  const { rows } = await q.query<PayerRow>("select * from payers where id = $1", [payerId]);
  if (!rows[0]) throw new ApiError("payer_token_invalid");
  return rows[0];
}

export async function presentPayer(q: Queryable, payer: PayerRow) {
  const { rows } = await q.query<IdentityRow>(
    "select kind, value, confirmed_at, live from payer_identities where payer_id = $1 order by kind, value",
    [payer.id],
  );
  const { rows: blocks } = await q.query<{ merchant_id: string }>(
    "select merchant_id from payer_merchant_blocks where payer_id = $1 order by merchant_id",
    [payer.id],
  );
  return {
    id: payer.id,
    object: "payer" as const,
    created: new Date(payer.created).toISOString(),
    email: payer.email,
    has_password: payer.password_hash !== null,
    identities: rows.map((r) => ({
      type: r.kind,
      value: r.value,
      confirmed: r.confirmed_at !== null,
    })),
    monthly_caps: Object.fromEntries(Object.entries(payer.monthly_caps).map(([c, a]) => [c, Number(a)])),
    blocked_merchants: blocks.map((b) => b.merchant_id),
  };
}

function throttled(retryAfterSeconds: number): ApiError {
  return new ApiError("rate_limited", undefined, undefined, { "Retry-After": String(retryAfterSeconds) });
}

export async function signUp(ctx: PayersContext, input: { email: string; password: string }, ip: string) {
  const email = normaliseEmail(input.email);
  if (input.password.length < PASSWORD_LIMITS.length_min)
    throw new ApiError(
      "parameter_invalid",
      "password",
      `Choose a password of at least ${PASSWORD_LIMITS.length_min} characters.`,
    );
  const nowMs = ctx.clock.nowMs();
  const gate = ctx.throttle.take(throttleKeys.signUp(ip), nowMs);
  if (!gate.allowed) throw throttled(gate.retryAfterSeconds);
  const passwordHash = await hashPassword(input.password);
  try {
    return await ctx.db.transaction(async (tx) => {
      const payer: PayerRow = {
        id: newId("pyr", nowMs),
        email,
        password_hash: passwordHash,
        monthly_caps: {},
        created: new Date(nowMs),
        updated: new Date(nowMs),
      };
      await tx.query(
        "insert into payers (id, email, password_hash, created, updated) values ($1, $2, $3, $4, $4)",
        [payer.id, email, passwordHash, payer.created],
      );
      // Unconfirmed until a code to the address comes back: until then it matches nothing.
      await tx.query(
        "insert into payer_identities (kind, value, payer_id, created) values ('email', $1, $2, $3)",
        [email, payer.id, payer.created],
      );
      return presentPayer(tx, payer);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new ApiError("payer_exists", "email");
    throw error;
  }
}

/** Sends a code; the answer is the same whether or not an account exists (nothing to enumerate). */
export async function requestCode(
  ctx: PayersContext,
  input: { msisdn?: string; email?: string; locale?: string },
  ip: string,
  ipCountry?: string,
) {
  const identity = identityOf(input);
  const nowMs = ctx.clock.nowMs();
  const attempt = attemptOf(identity, ip, ipCountry);
  await riskGate(ctx, attempt, nowMs);
  const gate = ctx.throttle.take(throttleKeys.codes(identity, ip), nowMs);
  if (!gate.allowed) {
    await ctx.risk?.throttled(attempt, "codes per recipient or address", nowMs);
    throw throttled(gate.retryAfterSeconds);
  }
  const channel = identity.kind === "msisdn" ? "sms" : "email";
  const live = ctx.notifier.isReal(channel);
  const created = await ctx.db.transaction((tx) => createCode(tx, ctx.codeKey, identity, live, nowMs));
  const minutes = CODE_LIMITS.ttl_ms / 60_000;
  const values = { code: created.code, minutes };
  const sent = await ctx.notifier.send(
    {
      channel,
      to: identity.value,
      kind: "signin_code",
      locale: input.locale ?? "en",
      ...(channel === "email" ? { subject: messageText(input.locale, "code.subject") } : {}),
      text: messageText(input.locale, channel === "sms" ? "code.sms" : "code.email", values),
      secret: created.code,
    },
    nowMs,
  );
  return {
    object: "payer_code" as const,
    channel,
    to: maskIdentity(identity),
    expires_at: new Date(created.expiresMs).toISOString(),
    /** `caught`: kept by the development catcher; `failed`: the channel could not deliver it. */
    delivery: sent.status,
  };
}

/** An identity as pages and answers show it to whoever holds the device: "+336••••78", "l•••@example.net". */
export function maskIdentity(identity: Identity): string {
  if (identity.kind === "msisdn") return `${identity.value.slice(0, 4)}••••${identity.value.slice(-2)}`;
  const [name = "", domain = ""] = identity.value.split("@");
  return `${name.slice(0, 1)}•••@${domain}`;
}

async function failSignIn(ctx: PayersContext, subject: string, ip: string, nowMs: number, error: ApiError) {
  // Counted whatever the limits: a refused attempt still failed.
  ctx.throttle.take(
    throttleKeys.signIn(subject, ip).map((k) => ({ ...k, max: Number.MAX_SAFE_INTEGER })),
    nowMs,
  );
  return error;
}

async function signInGate(
  ctx: PayersContext,
  subject: string,
  attempt: SignInAttempt,
  nowMs: number,
): Promise<void> {
  const gate = ctx.throttle.check(throttleKeys.signIn(subject, attempt.ip), nowMs);
  if (!gate.allowed) {
    await ctx.risk?.throttled(attempt, "sign-in failures per subject or address", nowMs);
    throw throttled(gate.retryAfterSeconds);
  }
  await riskGate(ctx, attempt, nowMs);
}

function attemptOf(identity: Identity | null, ip: string, ipCountry: string | undefined): SignInAttempt {
  return {
    ip,
    ...(ipCountry ? { ipCountry } : {}),
    ...(identity?.kind === "msisdn" ? { msisdn: identity.value } : {}),
  };
}

/** How long a sign-in an enforced risk rule blocks is told to wait (the counters' window). */
const RISK_BLOCK_RETRY_S = 3600;

/** The risk engine's word on a sign-in or a code request: a block is answered like a throttle. */
async function riskGate(ctx: PayersContext, attempt: SignInAttempt, nowMs: number): Promise<void> {
  if (!ctx.risk) return;
  const verdict = await ctx.risk.assess(attempt, nowMs);
  if (verdict.blocked) throw throttled(RISK_BLOCK_RETRY_S);
}

export async function signInWithPassword(
  ctx: PayersContext,
  input: { email: string; password: string },
  ip: string,
  ipCountry?: string,
) {
  const email = normaliseEmail(input.email);
  const nowMs = ctx.clock.nowMs();
  await signInGate(ctx, `email:${email}`, attemptOf(null, ip, ipCountry), nowMs);
  const { rows } = await ctx.db.query<PayerRow>("select * from payers where email = $1", [email]);
  const payer = rows[0];
  const ok = await verifyPassword(input.password, payer?.password_hash ?? null);
  if (!payer || !ok) throw await failSignIn(ctx, `email:${email}`, ip, nowMs, new ApiError("signin_failed"));
  const { rows: live } = await ctx.db.query(
    "select 1 from payer_identities where payer_id = $1 and live and confirmed_at is not null limit 1",
    [payer.id],
  );
  return ctx.db.transaction((tx) => openSession(ctx, tx, payer, live.length > 0, nowMs, null));
}

/**
 * Checks a code sent to `identity`, behind the sign-in throttles and the risk engine: a wrong code
 * is a failed sign-in and a PIN guess, whatever the code was asked for (sign-in or linking).
 */
export async function proveIdentity(
  ctx: PayersContext,
  identity: Identity,
  code: string,
  ip: string,
  ipCountry: string | undefined,
  nowMs: number,
): Promise<{ live: boolean }> {
  const subject = `${identity.kind}:${identity.value}`;
  const attempt = attemptOf(identity, ip, ipCountry);
  await signInGate(ctx, subject, attempt, nowMs);
  const verified = /^[0-9]{4,8}$/.test(code)
    ? await verifyCode(ctx.db, ctx.codeKey, identity, code, nowMs)
    : ({ ok: false } as const);
  if (!verified.ok) {
    // A wrong code is a PIN guess: the brute-force counters count it.
    await ctx.risk?.failed(attempt, nowMs);
    throw await failSignIn(ctx, subject, ip, nowMs, new ApiError("payer_code_invalid", "code"));
  }
  return { live: verified.live };
}

/**
 * A code proves the identity: the account holding it signs in (created on first use). An address
 * confirmed this way that someone had claimed with a password loses that password: whoever chose
 * it never proved the address was theirs.
 */
export async function signInWithCode(
  ctx: PayersContext,
  input: { msisdn?: string; email?: string; code: string },
  ip: string,
  ipCountry?: string,
) {
  const identity = identityOf(input);
  const nowMs = ctx.clock.nowMs();
  const verified = await proveIdentity(ctx, identity, input.code, ip, ipCountry, nowMs);
  return ctx.db.transaction(async (tx) => {
    const { rows } = await tx.query<IdentityRow & { payer_id: string }>(
      "select * from payer_identities where kind = $1 and value = $2 for update",
      [identity.kind, identity.value],
    );
    let payer: PayerRow;
    const found = rows[0];
    if (found) {
      payer = await loadPayer(tx, found.payer_id);
      if (found.confirmed_at === null && payer.password_hash !== null) {
        await tx.query("update payers set password_hash = null, updated = $2 where id = $1", [
          payer.id,
          new Date(nowMs),
        ]);
        payer.password_hash = null;
      }
      await tx.query(
        `update payer_identities set confirmed_at = coalesce(confirmed_at, $3), live = live or $4
         where kind = $1 and value = $2`,
        [identity.kind, identity.value, new Date(nowMs), verified.live],
      );
    } else {
      payer = {
        id: newId("pyr", nowMs),
        email: identity.kind === "email" ? identity.value : null,
        password_hash: null,
        monthly_caps: {},
        created: new Date(nowMs),
        updated: new Date(nowMs),
      };
      await tx.query("insert into payers (id, email, created, updated) values ($1, $2, $3, $3)", [
        payer.id,
        payer.email,
        payer.created,
      ]);
      await tx.query(
        `insert into payer_identities (kind, value, payer_id, confirmed_at, live, created)
         values ($1, $2, $3, $4, $5, $4)`,
        [identity.kind, identity.value, payer.id, payer.created, verified.live],
      );
    }
    return openSession(ctx, tx, payer, verified.live, nowMs, null);
  });
}

async function openSession(
  ctx: PayersContext,
  tx: Queryable,
  payer: PayerRow,
  live: boolean,
  nowMs: number,
  familyId: string | null,
) {
  const id = newId("psess", nowMs);
  const refreshToken = newRefreshToken();
  const refreshExpiresMs = nowMs + TOKEN_LIMITS.refresh_ttl_ms;
  await tx.query(
    `insert into payer_sessions (id, payer_id, family_id, refresh_hash, live, expires_at, created)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [
      id,
      payer.id,
      familyId ?? id,
      hashRefreshToken(refreshToken),
      live,
      new Date(refreshExpiresMs),
      new Date(nowMs),
    ],
  );
  const access = await signAccessToken(ctx.tokenKey, { payerId: payer.id, live }, nowMs);
  return {
    object: "payer_session" as const,
    token: access.token,
    expires_at: new Date(access.expiresMs).toISOString(),
    refresh_token: refreshToken,
    refresh_expires_at: new Date(refreshExpiresMs).toISOString(),
    payer: await presentPayer(tx, payer),
  };
}

/**
 * A refresh token is good once: it is rotated into a new one. One that comes back after its
 * rotation was stolen or replayed: its whole family is revoked, the thief and the owner both sign
 * in again.
 */
export async function refreshSession(ctx: PayersContext, input: { refresh_token: string }) {
  const nowMs = ctx.clock.nowMs();
  const outcome = await ctx.db.transaction(async (tx) => {
    const { rows } = await tx.query<{
      id: string;
      payer_id: string;
      family_id: string;
      live: boolean;
      expires_at: Date;
      rotated_at: Date | null;
      revoked_at: Date | null;
    }>("select * from payer_sessions where refresh_hash = $1 for update", [
      hashRefreshToken(input.refresh_token),
    ]);
    const session = rows[0];
    if (!session) return null;
    if (session.rotated_at !== null || session.revoked_at !== null) {
      await tx.query("update payer_sessions set revoked_at = coalesce(revoked_at, $2) where family_id = $1", [
        session.family_id,
        new Date(nowMs),
      ]);
      return null;
    }
    if (new Date(session.expires_at).getTime() <= nowMs) return null;
    await tx.query("update payer_sessions set rotated_at = $2 where id = $1", [session.id, new Date(nowMs)]);
    const payer = await loadPayer(tx, session.payer_id);
    return openSession(ctx, tx, payer, session.live, nowMs, session.family_id);
  });
  if (!outcome) throw new ApiError("payer_token_invalid", "refresh_token");
  return outcome;
}

/** The payer of a bearer token, or 401. */
export async function authenticatePayer(
  ctx: PayersContext,
  authorization: string | undefined,
): Promise<PayerAuth> {
  const bearer = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
  if (!bearer) throw new ApiError("payer_token_invalid");
  const claims = await verifyAccessToken(ctx.tokenKey, bearer, ctx.clock.nowMs());
  if (!claims) throw new ApiError("payer_token_invalid");
  return claims;
}
