import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Centime's own one-time codes, for operators whose protocol has no PIN step (OneAPI Payment has
 * none): the code is derived from a signed consent id, so nothing is stored and a restart loses
 * nothing. The consent id names the number, amount and currency it consents to, and expires.
 * Only the payer, who receives the code by SMS, can answer it; wrong answers are counted by the
 * payment (three fail it).
 */

export const OTP_TTL_MS = 10 * 60_000;
export const OTP_DIGITS = 6;

export interface ConsentClaims {
  /** The attempt that asked. */
  a: string;
  /** MSISDN, amount (minor units, decimal string), currency the payer consents to. */
  m: string;
  x: string;
  c: string;
  /** Expiry, ms since epoch. */
  e: number;
  n: string;
}

function mac(secret: string, purpose: string, payload: string): Buffer {
  return createHmac("sha256", secret).update(`${purpose}|${payload}`).digest();
}

export function issueConsent(
  secret: string,
  claims: { attempt_id: string; msisdn: string; amount: bigint; currency: string },
  nowMs: number = Date.now(),
): string {
  const body: ConsentClaims = {
    a: claims.attempt_id,
    m: claims.msisdn,
    x: claims.amount.toString(),
    c: claims.currency,
    e: nowMs + OTP_TTL_MS,
    n: randomBytes(9).toString("base64url"),
  };
  const payload = Buffer.from(JSON.stringify(body)).toString("base64url");
  return `otp.${payload}.${mac(secret, "consent", payload).toString("base64url")}`;
}

/** The claims of a consent id we issued and that has not expired; undefined otherwise. */
export function readConsent(
  secret: string,
  consentId: string,
  nowMs: number = Date.now(),
): ConsentClaims | undefined {
  const [kind, payload = "", signature = ""] = consentId.split(".");
  if (kind !== "otp") return undefined;
  const expected = mac(secret, "consent", payload);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as ConsentClaims;
    return typeof claims.e === "number" && claims.e > nowMs ? claims : undefined;
  } catch {
    return undefined;
  }
}

/** The code for a consent id: `fixed` on a test network (documented), else derived from the secret. */
export function codeFor(secret: string, consentId: string, fixed?: string): string {
  if (fixed) return fixed;
  const n = mac(secret, "code", consentId).readUInt32BE(0) % 10 ** OTP_DIGITS;
  return String(n).padStart(OTP_DIGITS, "0");
}

export function codeMatches(secret: string, consentId: string, typed: string, fixed?: string): boolean {
  const expected = Buffer.from(codeFor(secret, consentId, fixed));
  const given = Buffer.from(typed.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
