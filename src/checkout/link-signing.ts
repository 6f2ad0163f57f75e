import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Signed payment-link URLs. The URL carries the link's terms (id, amount, currency, expiry) and
 * the id of the key that signed them (`kid`), so a tampered, expired or foreign link is refused
 * from the URL alone, before any database read:
 *
 *     /pay/plink_…?amount=500&currency=EUR&expires=1767225600&kid=k01…&sig=<base64url HMAC-SHA256>
 *
 * Keys rotate: the current key signs; a retired key still verifies until its `retires_at` (the
 * overlap), after which its links are refused like an unknown key's. Pure: no clock, no database.
 */

export interface LinkTerms {
  id: string;
  amount: bigint;
  currency: string;
  /** Unix seconds; null for a link that never expires. */
  expiresAtSeconds: number | null;
}

export interface LinkKey {
  kid: string;
  secret: Buffer;
  /** Null for the keys still in service; a retired key verifies until then. */
  retiresAtMs: number | null;
}

export interface LinkKeyring {
  /** The key that signs new URLs. */
  current: LinkKey;
  byKid: ReadonlyMap<string, LinkKey>;
}

export type LinkVerdict =
  | { ok: true; terms: LinkTerms; kid: string }
  /** 403: any parameter changed, the signature cut or wrong, a parameter added or missing. */
  | { ok: false; reason: "tampered" }
  /** 403: a key this installation never had, or one retired past its overlap. */
  | { ok: false; reason: "unknown_key" }
  /** 410: signed by us, but past its expiry. */
  | { ok: false; reason: "expired" };

const SIGNED_PARAMS = ["amount", "currency", "expires", "kid", "sig"] as const;
/** Parameters a link URL may carry beyond its signed terms: display only. */
const UNSIGNED_PARAMS = new Set(["lang"]);
const ID_PATTERN = /^plink_[0-9a-z]{26}$/;
const KID_PATTERN = /^k[0-9a-z]{4,40}$/;
/** 32 bytes of HMAC-SHA256 in unpadded base64url. */
const SIGNATURE_CHARS = 43;

export function newLinkKey(kid: string): LinkKey {
  return { kid, secret: randomBytes(32), retiresAtMs: null };
}

function message(terms: LinkTerms, kid: string): string {
  return [
    "centime-link-v1",
    terms.id,
    terms.amount.toString(),
    terms.currency,
    terms.expiresAtSeconds ?? "",
    kid,
  ].join("\n");
}

function mac(key: LinkKey, terms: LinkTerms): Buffer {
  return createHmac("sha256", key.secret).update(message(terms, key.kid)).digest();
}

/** The path and query of a link signed with the ring's current key. */
export function signLinkPath(terms: LinkTerms, ring: LinkKeyring): string {
  const key = ring.current;
  const query = new URLSearchParams({
    amount: terms.amount.toString(),
    currency: terms.currency,
    expires: terms.expiresAtSeconds === null ? "" : String(terms.expiresAtSeconds),
    kid: key.kid,
    sig: mac(key, terms).toString("base64url"),
  });
  return `/pay/${terms.id}?${query.toString()}`;
}

function single(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/**
 * Checks a link URL's id and query. Every signed parameter must be present exactly once and well
 * formed, nothing else may be added, the key must be in service (or within its overlap), and the
 * signature must match in constant time; only then is the expiry looked at.
 */
export function verifyLink(
  id: string,
  query: Readonly<Record<string, unknown>>,
  ring: LinkKeyring,
  nowMs: number,
): LinkVerdict {
  const tampered = { ok: false, reason: "tampered" } as const;
  if (!ID_PATTERN.test(id)) return tampered;
  for (const name of Object.keys(query)) {
    if (!(SIGNED_PARAMS as readonly string[]).includes(name) && !UNSIGNED_PARAMS.has(name)) return tampered;
  }
  const [amount, currency, expires, kid, sig] = SIGNED_PARAMS.map((name) => single(query[name]));
  if (
    amount === undefined ||
    currency === undefined ||
    expires === undefined ||
    kid === undefined ||
    sig === undefined
  )
    return tampered;
  if (!/^[1-9][0-9]{0,14}$/.test(amount) || !/^[A-Z]{3}$/.test(currency)) return tampered;
  if (expires !== "" && !/^[1-9][0-9]{0,11}$/.test(expires)) return tampered;
  if (!/^[A-Za-z0-9_-]{43}$/.test(sig)) return tampered;
  if (!KID_PATTERN.test(kid)) return { ok: false, reason: "unknown_key" };
  const key = ring.byKid.get(kid);
  if (!key || (key.retiresAtMs !== null && key.retiresAtMs <= nowMs))
    return { ok: false, reason: "unknown_key" };
  const terms: LinkTerms = {
    id,
    amount: BigInt(amount),
    currency,
    expiresAtSeconds: expires === "" ? null : Number(expires),
  };
  // Compared as text: base64url's last character has spare bits, and decoding would accept several
  // spellings of one signature. Only the canonical one passes.
  const expected = Buffer.from(mac(key, terms).toString("base64url"));
  if (expected.length !== SIGNATURE_CHARS || !timingSafeEqual(Buffer.from(sig), expected)) return tampered;
  if (terms.expiresAtSeconds !== null && terms.expiresAtSeconds * 1000 <= nowMs)
    return { ok: false, reason: "expired" };
  return { ok: true, terms, kid };
}
