import { createHash, hkdfSync, randomBytes } from "node:crypto";
import { errors, jwtVerify, SignJWT } from "jose";

/**
 * Payer tokens: a short-lived access token (a JWT signed with HS256 by jose, nothing stored) and
 * an opaque refresh token (random, only its hash stored), rotated on every use.
 */
export const TOKEN_LIMITS = {
  access_ttl_ms: 15 * 60_000,
  refresh_ttl_ms: 30 * 24 * 60 * 60_000,
} as const;

const ISSUER = "centime";
const AUDIENCE = "centime:payer";

export interface PayerClaims {
  payerId: string;
  /** The sign-in proved a real channel (not the development catcher): live-mode data is shown. */
  live: boolean;
}

/** Keys derived from the installation's session secret, one per purpose. */
export function deriveKey(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, "centime-payers", purpose, 32));
}

export async function signAccessToken(
  key: Uint8Array,
  claims: PayerClaims,
  nowMs: number,
): Promise<{ token: string; expiresMs: number }> {
  const expiresMs = nowMs + TOKEN_LIMITS.access_ttl_ms;
  const token = await new SignJWT({ live: claims.live })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.payerId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(Math.floor(nowMs / 1000))
    .setExpirationTime(Math.floor(expiresMs / 1000))
    .sign(key);
  return { token, expiresMs: Math.floor(expiresMs / 1000) * 1000 };
}

/** The claims of a valid token, or null (bad signature, expired, another audience, malformed). */
export async function verifyAccessToken(
  key: Uint8Array,
  token: string,
  nowMs: number,
): Promise<PayerClaims | null> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: AUDIENCE,
      currentDate: new Date(nowMs),
    });
    if (typeof payload.sub !== "string" || typeof payload.live !== "boolean") return null;
    return { payerId: payload.sub, live: payload.live };
  } catch (error) {
    if (error instanceof errors.JOSEError || error instanceof TypeError) return null;
    throw error;
  }
}

export function newRefreshToken(): string {
  return `prt_${randomBytes(32).toString("base64url")}`;
}

/** Refresh tokens are 256 random bits: a plain SHA-256 is enough to store them. */
export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
