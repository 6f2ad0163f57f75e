import { randomBytes } from "node:crypto";

/**
 * Prefixed, time-sortable identifiers (`pay_01J…`): 48 bits of milliseconds then 80 random bits,
 * in Crockford base32, so ids sort by creation time and can serve as list cursors.
 * Within one millisecond the random part is incremented, so ids from one process never go backwards.
 */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

export const ID_PREFIXES = {
  merchant: "mer",
  apiKey: "key",
  customer: "cus",
  payment: "pay",
  refund: "re",
  event: "evt",
  journal: "jrn",
  transfer: "tr",
  ledgerAccount: "la",
  interaction: "ix",
  webhookEndpoint: "we",
  attempt: "att",
  webhookAttempt: "wha",
  job: "job",
  subscription: "sub",
  product: "prod",
  price: "price",
  testClock: "clock",
  dunningPolicy: "dpol",
  exchangeRate: "xr",
  walletGrant: "wg",
  walletDraw: "wd",
  entitlementGrant: "eg",
  voucherBatch: "vb",
  voucherRedemption: "vr",
  commissionPlan: "cplan",
  commission: "com",
  app: "app",
  checkoutSession: "cs",
  paymentLink: "plink",
  checkoutStep: "cstep",
  receipt: "rcpt",
  payerConsent: "pcons",
  auditEvent: "aud",
  staff: "stf",
  staffKey: "skey",
  staffRole: "role",
  approval: "apr",
  adjustment: "adj",
  riskRule: "rr",
  riskListEntry: "rle",
  riskDecision: "rd",
  payer: "pyr",
  payerCode: "pcode",
  payerSession: "psess",
  refundRequest: "rfq",
  payerMessage: "msg",
} as const;

export type IdPrefix = (typeof ID_PREFIXES)[keyof typeof ID_PREFIXES];

/** How far the clock may step back before ids follow it rather than stay monotonic. */
const CLOCK_STEP_BACK_TOLERATED_MS = 1000;

let lastTimeMs = 0;
let lastRandom: number[] = [];
/** The same for a clock far behind the system clock (a test clock in the past): its own sequence. */
let lastPastTimeMs = 0;
let lastPastRandom: number[] = [];

/** The last time encoded: ids minted in one millisecond (a busy process) share it. */
let encodedMs = -1;
let encoded = "";

function encodeTime(timeMs: number): string {
  if (timeMs === encodedMs) return encoded;
  let out = "";
  let value = timeMs;
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  encodedMs = timeMs;
  encoded = out;
  return out;
}

/**
 * Random bytes are drawn from the kernel 4 KiB at a time (256 ids): one call per id was the
 * largest single cost of minting one on the payment path. Each byte is used once.
 */
const POOL_BYTES = 4096;
let pool = randomBytes(POOL_BYTES);
let poolOffset = 0;

/** `count` bytes from the pool, never handed out twice (a view: copy it to keep it). */
function pooled(count: number): Buffer {
  if (poolOffset + count > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + count);
  poolOffset += count;
  return bytes;
}

function freshRandom(): number[] {
  const bytes = pooled(RANDOM_CHARS);
  const digits = new Array<number>(RANDOM_CHARS);
  for (let i = 0; i < RANDOM_CHARS; i++) digits[i] = bytes[i]! & 31;
  return digits;
}

/** `prefix_` and 96 random bits (base64url): request ids, which need no order. */
export function randomToken(prefix: string): string {
  return `${prefix}_${pooled(12).toString("base64url")}`;
}

function encodeRandom(digits: readonly number[]): string {
  let out = "";
  for (let i = 0; i < digits.length; i++) out += ALPHABET[digits[i]!];
  return out;
}

function increment(digits: number[]): number[] {
  const next = digits.slice();
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i]! < 31) {
      next[i]! += 1;
      return next;
    }
    next[i] = 0;
  }
  return freshRandom();
}

export function newId(prefix: IdPrefix, nowMs: number = Date.now()): string {
  let random: number[];
  if (nowMs < lastTimeMs - CLOCK_STEP_BACK_TOLERATED_MS) {
    // A clock far behind the others (a test clock in the past): the id carries that time, and
    // ids minted within one of its milliseconds still follow each other in the order made.
    if (nowMs === lastPastTimeMs) {
      random = increment(lastPastRandom);
    } else {
      random = freshRandom();
      lastPastTimeMs = nowMs;
    }
    lastPastRandom = random;
  } else if (nowMs <= lastTimeMs) {
    // The same millisecond, or the system clock stepping back a little: never go backwards.
    random = increment(lastRandom);
    nowMs = lastTimeMs;
    lastRandom = random;
  } else {
    random = freshRandom();
    lastTimeMs = nowMs;
    lastRandom = random;
  }
  return `${prefix}_${encodeTime(nowMs)}${encodeRandom(random)}`;
}

/** The smallest id with this prefix created at `timeMs`: ids below it are older (a range scan on the key). */
export function idFloor(prefix: IdPrefix, timeMs: number): string {
  return `${prefix}_${encodeTime(timeMs)}${"0".repeat(RANDOM_CHARS)}`;
}

/** The millisecond an id was minted at (its ten characters after the prefix); null if it is not one of ours. */
export function idTimeMs(id: string): number | null {
  const start = id.indexOf("_") + 1;
  if (start === 0 || id.length !== start + TIME_CHARS + RANDOM_CHARS) return null;
  let timeMs = 0;
  for (let i = start; i < start + TIME_CHARS; i++) {
    const digit = ALPHABET.indexOf(id[i]!);
    if (digit < 0) return null;
    timeMs = timeMs * 32 + digit;
  }
  return timeMs;
}

/** The shape of every id newId makes, whatever its prefix (list cursors are checked against it). */
export const ID_PATTERN = /^[a-z]{2,8}_[0-9a-z]{26}$/;

export function isWellFormedId(value: string, prefix: IdPrefix): boolean {
  return value.startsWith(`${prefix}_`) && ID_PATTERN.test(value);
}

/**
 * Time-ordered bigint keys (webhook deliveries: a queue keyed by a bigint since before partitions):
 * milliseconds since 2020-01-01 UTC times 2^20, plus a sequence within the millisecond (SQL
 * `centime_delivery_id`). Still 18 digits in 2050; every older identity id lies below them.
 */
export const SEQUENCE_ID_EPOCH_MS = Date.UTC(2020, 0, 1);
const SEQUENCE_ID_SHIFT = 1_048_576n;

/** The smallest time-ordered bigint key minted at `timeMs` (SQL `centime_delivery_id_floor`). */
export function sequenceIdFloor(timeMs: number): bigint {
  return BigInt(Math.floor(timeMs) - SEQUENCE_ID_EPOCH_MS) * SEQUENCE_ID_SHIFT;
}
