import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { crc32 } from "node:zlib";
import { generateSecret, generateURI, verify } from "otplib";

/** scrypt with the cost OWASP recommends (N=2^17 is the floor for passwords; 2^15 keeps tests fast). */
const SCRYPT = { N: 32768, r: 8, p: 1, keyLength: 32, maxmem: 64 * 1024 * 1024 };

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, SCRYPT.keyLength, { N, r, p, maxmem: SCRYPT.maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

export async function passwordMatches(password: string, stored: string | null): Promise<boolean> {
  // Without a stored hash the same work is done against a dummy one, so timing tells nothing.
  const [scheme, n, r, p, salt, key] = (stored ?? `scrypt$${SCRYPT.N}$8$1$AAAAAAAAAAAAAAAAAAAAAA==$`).split(
    "$",
  );
  if (scheme !== "scrypt" || !salt || key === undefined) return false;
  const derived = await scryptAsync(password, Buffer.from(salt, "base64"), Number(n), Number(r), Number(p));
  const expected = Buffer.from(key, "base64");
  return stored !== null && expected.length === derived.length && timingSafeEqual(derived, expected);
}

export function newTotpSecret(): string {
  return generateSecret();
}

export function totpUri(email: string, secret: string): string {
  return generateURI({ issuer: "Centime", label: email, secret });
}

/**
 * RFC 6238 with one step of tolerance either side for clocks that drift: the time step (Unix
 * seconds / 30) the code belongs to, or null. The caller refuses a step already used (§5.2).
 */
export async function totpStep(secret: string | null, token: string): Promise<number | null> {
  if (!secret || !/^[0-9]{6}$/.test(token)) return null;
  try {
    const epoch = Math.floor(Date.now() / 1000);
    const result = await verify({ secret, token, epoch, epochTolerance: 30 });
    return result.valid ? Math.floor(epoch / 30) + (result.delta ?? 0) : null;
  } catch {
    return null;
  }
}

/** Whether the code is right now (without the replay check: for confirming a new second factor). */
export async function totpMatches(secret: string | null, token: string): Promise<boolean> {
  return (await totpStep(secret, token)) !== null;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const STAFF_KEY_PATTERN = /^sk_staff_[0-9A-Za-z]{38}$/;

function checksum(body: string): string {
  let value = crc32(body) >>> 0;
  let out = "";
  for (let i = 0; i < 6; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** `sk_staff_` + 32 random base62 characters + a CRC32 checksum, like the merchants' keys. */
export function generateStaffKey(): string {
  let random = "";
  while (random.length < 32) {
    for (const byte of randomBytes(48)) {
      if (byte < 248 && random.length < 32) random += BASE62[byte % 62];
    }
  }
  const body = `sk_staff_${random}`;
  return body + checksum(body);
}

export function isStaffKey(key: string): boolean {
  return STAFF_KEY_PATTERN.test(key) && checksum(key.slice(0, -6)) === key.slice(-6);
}

/** A session token for the admin cookie: 32 random bytes, stored only as a hash. */
export function newSessionToken(): string {
  return randomBytes(32).toString("base64url");
}
