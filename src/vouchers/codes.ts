import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomInt } from "node:crypto";

/**
 * Scratch-card codes. Characters come from a cryptographic generator over an alphabet without
 * look-alikes (no 0/O, 1/I/L); the last character is a check character (weighted, mod a prime), so a typo
 * is rejected before any lookup. Only a keyed hash of a code is stored.
 */
export const DEFAULT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
export const LOOK_ALIKES = "01ILO";
export const DEFAULT_LENGTH = 16;
export const DEFAULT_GROUP = 4;
/** At least 10 random characters over at least 16 symbols: 40+ bits before the check character. */
export const LENGTH_MIN = 11;
export const LENGTH_MAX = 30;

export interface CodeFormat {
  alphabet: string;
  /** Characters including the check character, without separators. */
  length: number;
  /** Characters per group in the printed code (0: no grouping). */
  group: number;
}

export function alphabetProblem(alphabet: string): string | undefined {
  if (!/^[A-Z2-9]+$/.test(alphabet)) return "uses only capital letters A-Z and digits 2-9";
  if (new Set(alphabet).size !== alphabet.length) return "has no repeated character";
  if ([...LOOK_ALIKES].some((c) => alphabet.includes(c))) return `has none of the look-alikes ${LOOK_ALIKES}`;
  if (alphabet.length < 16) return "has at least 16 characters";
  if (!isPrime(alphabet.length))
    return "has a prime number of characters (17, 19, 23, 29 or 31), so the check character catches every typo";
  return undefined;
}

/**
 * A weighted check over a prime-sized alphabet (N): position i (from 1) weighs i, and the check
 * character c (at position L) makes sum(i * v_i) + L * c = 0 mod N. Every weight is non-zero and
 * neighbours' weights differ by one, so every single wrong character and every swap of two
 * neighbours changes the sum: both are caught before any lookup.
 */
export function checkCharacter(payload: string, alphabet: string): string {
  const n = alphabet.length;
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum = (sum + (i + 1) * alphabet.indexOf(payload[i]!)) % n;
  const weight = (payload.length + 1) % n;
  for (let c = 0; c < n; c++) if ((sum + weight * c) % n === 0) return alphabet[c]!;
  throw new Error("the check needs a prime alphabet size larger than the code length");
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

export function generateCode(format: CodeFormat): string {
  let payload = "";
  for (let i = 0; i < format.length - 1; i++) payload += format.alphabet[randomInt(format.alphabet.length)];
  return payload + checkCharacter(payload, format.alphabet);
}

/** What the customer typed, without spaces or dashes, in capitals. */
export function normalizeCode(input: string): string {
  return input.replace(/[\s-]/g, "").toUpperCase();
}

export function isWellFormed(code: string, format: CodeFormat): boolean {
  if (code.length !== format.length) return false;
  for (const c of code) if (!format.alphabet.includes(c)) return false;
  return checkCharacter(code.slice(0, -1), format.alphabet) === code.at(-1);
}

/** Loose pre-check for any batch's format (the batch is unknown until the lookup). */
export function mayBeACode(code: string): boolean {
  return code.length >= LENGTH_MIN && code.length <= LENGTH_MAX && /^[A-Z2-9]+$/.test(code);
}

export function printedCode(code: string, group: number): string {
  if (group <= 0) return code;
  return code.match(new RegExp(`.{1,${group}}`, "g"))!.join("-");
}

/** The only thing stored about a code: an HMAC under the platform's voucher key, per merchant. */
export function codeHash(key: Buffer, merchantId: string, code: string): string {
  return createHmac("sha256", key).update(`${merchantId}\u0000${code}`).digest("base64url");
}

/** The printer's file is kept encrypted (AES-256-GCM) until its one download. */
export function seal(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealKey(key), iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64");
}

export function unseal(key: Buffer, sealed: string): string {
  const raw = Buffer.from(sealed, "base64");
  const decipher = createDecipheriv("aes-256-gcm", sealKey(key), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
}

function sealKey(key: Buffer): Buffer {
  return createHmac("sha256", key).update("centime voucher file").digest();
}

export function serialText(prefix: string, serial: number): string {
  return `${prefix}${String(serial).padStart(8, "0")}`;
}

/** A serial as the API takes it: the number, or the printed serial with its prefix. */
export function parseSerial(prefix: string, value: number | string): number | null {
  if (typeof value === "number") return Number.isInteger(value) && value >= 1 ? value : null;
  if (!value.startsWith(prefix)) return null;
  const digits = value.slice(prefix.length);
  return /^[0-9]{1,9}$/.test(digits) && Number(digits) >= 1 ? Number(digits) : null;
}
