import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import { crc32 } from "node:zlib";

/**
 * API keys look like `sk_test_` + 32 random base62 characters + a 6-character CRC32 checksum, as
 * GitHub's tokens do: secret scanners recognise the prefix and can verify the checksum without
 * asking us, and a mistyped key is refused without a database lookup. Only a SHA-256 hash of a
 * key is stored; the key itself is shown once.
 */
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;

export type KeyType = "secret" | "publishable";
export type KeyMode = "test" | "live";
export type KeyKind = { type: KeyType; mode: KeyMode } | { type: "admin" };

function base62(bytes: Buffer, length: number): string {
  let out = "";
  for (const byte of bytes) {
    // Rejection sampling keeps the characters uniform.
    if (byte < 248) out += BASE62[byte % 62];
    if (out.length === length) break;
  }
  return out.length === length ? out : out + base62(randomBytes(length), length - out.length);
}

function checksum(body: string): string {
  let value = crc32(body) >>> 0;
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export function keyPrefix(kind: KeyKind): string {
  if (kind.type === "admin") return "sk_admin_";
  return `${kind.type === "secret" ? "sk" : "pk"}_${kind.mode}_`;
}

export function generateKey(kind: KeyKind): string {
  const body = keyPrefix(kind) + base62(randomBytes(RANDOM_LENGTH * 2), RANDOM_LENGTH);
  return body + checksum(body);
}

const KEY_PATTERN = /^(sk|pk)_(test|live|admin)_[0-9A-Za-z]{38}$/;

/** What a well-formed key claims to be, or null for anything else (including a bad checksum). */
export function parseKey(key: string): KeyKind | null {
  const match = KEY_PATTERN.exec(key);
  if (!match) return null;
  const body = key.slice(0, -CHECKSUM_LENGTH);
  if (checksum(body) !== key.slice(-CHECKSUM_LENGTH)) return null;
  if (match[2] === "admin") return match[1] === "sk" ? { type: "admin" } : null;
  return { type: match[1] === "sk" ? "secret" : "publishable", mode: match[2] as KeyMode };
}

export function hashKey(key: string): string {
  return keyDigest(key).toString("hex");
}

/** The SHA-256 of a key: stored (hex) to find it, compared in constant time to recognise it. */
export function keyDigest(key: string): Buffer {
  return hash("sha256", key, "buffer");
}

/** Compares two secrets in constant time (their hashes have equal length whatever the input). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(hash("sha256", a, "buffer"), hash("sha256", b, "buffer"));
}

/** `sk_test_…Ab12`: enough to recognise a key in a list, never enough to use it. */
export function redactKey(key: string): string {
  return `${key.slice(0, key.indexOf("_", 3) + 1)}…${key.slice(-4)}`;
}
