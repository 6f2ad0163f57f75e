import { isUniqueViolation } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import {
  identityOf,
  loadPayer,
  type PayerRow,
  presentPayer,
  proveIdentity,
  requestCode,
} from "./accounts.ts";
import type { PayerAuth, PayersContext } from "./context.ts";

/**
 * A second identity on a signed-in account: a payer who signed in by e-mail adds a number (or the
 * other way round), proven by a one-time code sent to it. Afterwards what either identity matches
 * is the payer's (views.ts reads every confirmed identity). An identity another account holds is
 * refused (409) only once the code proved it: asking for a code says nothing about who holds a
 * number, so a signed-in payer cannot probe the accounts of others.
 */

/** Sends a code to the identity to add: the sign-in codes' own message, throttles and risk. */
export async function requestLinkCode(
  ctx: PayersContext,
  input: { msisdn?: string; email?: string; locale?: string },
  ip: string,
  ipCountry?: string,
) {
  return requestCode(ctx, input, ip, ipCountry);
}

function taken(kind: "msisdn" | "email"): ApiError {
  return new ApiError(
    "payer_exists",
    kind,
    kind === "msisdn"
      ? "This number is already linked to another payer account. Sign in with it to see its charges."
      : "This e-mail address is already linked to another payer account. Sign in with it to see its charges.",
  );
}

/** Adds the identity once its code is right; 409 when another account holds it. */
export async function linkIdentity(
  ctx: PayersContext,
  auth: PayerAuth,
  input: { msisdn?: string; email?: string; code: string },
  ip: string,
  ipCountry?: string,
) {
  const identity = identityOf(input);
  const nowMs = ctx.clock.nowMs();
  const verified = await proveIdentity(ctx, identity, input.code, ip, ipCountry, nowMs);
  try {
    return await ctx.db.transaction(async (tx) => {
      const payer: PayerRow = await loadPayer(tx, auth.payerId);
      const { rows } = await tx.query<{ payer_id: string }>(
        "select payer_id from payer_identities where kind = $1 and value = $2 for update",
        [identity.kind, identity.value],
      );
      const held = rows[0];
      if (held && held.payer_id !== payer.id) throw taken(identity.kind);
      if (held) {
        await tx.query(
          `update payer_identities set confirmed_at = coalesce(confirmed_at, $3), live = live or $4
            where kind = $1 and value = $2`,
          [identity.kind, identity.value, new Date(nowMs), verified.live],
        );
      } else {
        await tx.query(
          `insert into payer_identities (kind, value, payer_id, confirmed_at, live, created)
           values ($1, $2, $3, $4, $5, $4)`,
          [identity.kind, identity.value, payer.id, new Date(nowMs), verified.live],
        );
      }
      return presentPayer(tx, payer);
    });
  } catch (error) {
    // Two accounts linking one identity at once: the primary key decides, the other is told.
    if (isUniqueViolation(error)) throw taken(identity.kind);
    throw error;
  }
}
