import { createHash } from "node:crypto";
import type { Account, AccountKey, Mode } from "./types.ts";

const BASE32 = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * Account ids are derived from the account's key, so a writer can name an account without a
 * lookup and two processes creating the same account agree on its id.
 */
export function accountId(key: AccountKey): string {
  const name = `${key.merchantId}\u0000${key.mode}\u0000${key.ownerId}\u0000${key.purpose}\u0000${key.currency}`;
  const known = derived.get(name);
  if (known) return known;
  const digest = createHash("sha256").update(name).digest();
  let out = "";
  for (let i = 0; i < 26; i++) out += BASE32[digest[i]! & 31];
  if (derived.size >= DERIVED_CACHE_SIZE_MAX) derived.clear();
  derived.set(name, `la_${out}`);
  return `la_${out}`;
}

/** Every payment names its accounts: remember the derivations rather than hash each time. */
const DERIVED_CACHE_SIZE_MAX = 100_000;
const derived = new Map<string, string>();

export interface AccountRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  owner_id: string;
  purpose: string;
  currency: string;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
}

export function accountFromRow(row: AccountRow): Account {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    mode: row.mode,
    ownerId: row.owner_id,
    purpose: row.purpose,
    currency: row.currency,
    debitsMustNotExceedCredits: row.debits_must_not_exceed_credits,
    creditsMustNotExceedDebits: row.credits_must_not_exceed_debits,
  };
}
