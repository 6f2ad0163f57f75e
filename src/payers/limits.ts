import type { Queryable } from "../db/db.ts";
import { paymentIdsOf } from "./views.ts";

/**
 * What a payer asked for, as a check before a new charge: a merchant they blocked, a monthly cap
 * per currency (this UTC calendar month's succeeded payments plus the new amount). For the
 * payment path's risk hook to call with the charge's MSISDN or e-mail; pure reads.
 */
export type PayerLimitVerdict =
  | { allowed: true }
  | { allowed: false; reason: "payer_blocked_merchant"; payer: string }
  | { allowed: false; reason: "payer_cap_exceeded"; payer: string; cap: bigint; spent: bigint };

export async function checkPayerLimits(
  q: Queryable,
  input: {
    merchantId: string;
    mode: string;
    msisdn?: string | null;
    email?: string | null;
    amount: bigint;
    currency: string;
    nowMs: number;
  },
): Promise<PayerLimitVerdict> {
  const identities: Array<[string, string]> = [];
  if (input.msisdn) identities.push(["msisdn", input.msisdn]);
  if (input.email) identities.push(["email", input.email.toLowerCase()]);
  if (identities.length === 0) return { allowed: true };
  const { rows: payers } = await q.query<{
    id: string;
    monthly_caps: Record<string, number | string>;
    blocked: boolean;
  }>(
    `select p.id, p.monthly_caps,
            exists (select 1 from payer_merchant_blocks b where b.payer_id = p.id and b.merchant_id = $3) as blocked
       from payer_identities i join payers p on p.id = i.payer_id
      where i.confirmed_at is not null and (i.kind, i.value) in (select * from unnest($1::text[], $2::text[]))`,
    [identities.map((i) => i[0]), identities.map((i) => i[1]), input.merchantId],
  );
  for (const payer of payers) {
    if (payer.blocked) return { allowed: false, reason: "payer_blocked_merchant", payer: payer.id };
    const capValue = payer.monthly_caps[input.currency];
    if (capValue === undefined) continue;
    const cap = BigInt(capValue);
    const now = new Date(input.nowMs);
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    // Everything the payer's confirmed identities paid this month, at every merchant.
    const { rows } = await q.query<{ spent: bigint | null }>(
      `select sum(amount_captured - amount_refunded) as spent from payments
        where id = any($1::text[]) and status = 'succeeded' and currency = $2 and created >= $3 and mode = $4`,
      [await paymentIdsOf(q, payer.id), input.currency, monthStart, input.mode],
    );
    const spent = BigInt(rows[0]?.spent ?? 0n);
    if (spent + input.amount > cap)
      return { allowed: false, reason: "payer_cap_exceeded", payer: payer.id, cap, spent };
  }
  return { allowed: true };
}
