import type { Queryable } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import type { Scope } from "./context.ts";

/**
 * Codes (game keys) attached to a product. Each is handed out to one purchase, once: the
 * completion of a session takes free codes with `FOR UPDATE SKIP LOCKED` and marks them with the
 * session in the same transaction (attempts.ts); a code row can only go from free to taken.
 */

async function checkProduct(q: Queryable, scope: Scope, product: string): Promise<void> {
  const { rowCount } = await q.query(
    "select 1 from products where id = $1 and merchant_id = $2 and mode = $3",
    [product, scope.merchantId, scope.mode],
  );
  if (rowCount === 0) throw new ApiError("resource_missing", "id", `No such product: '${product}'.`);
}

export async function productCodeCounts(q: Queryable, scope: Scope, product: string) {
  await checkProduct(q, scope, product);
  const { rows } = await q.query<{ available: bigint; assigned: bigint }>(
    `select count(*) filter (where session_id is null) as available, count(*) filter (where session_id is not null) as assigned
       from checkout_product_codes where merchant_id = $1 and mode = $2 and product_id = $3`,
    [scope.merchantId, scope.mode, product],
  );
  return {
    object: "product_codes" as const,
    product,
    available: Number(rows[0]?.available ?? 0),
    assigned: Number(rows[0]?.assigned ?? 0),
  };
}

/** Adds codes; a code the product already has is skipped (uploading a file twice is harmless). */
export async function addProductCodes(
  q: Queryable,
  scope: Scope,
  product: string,
  codes: readonly string[],
  nowMs: number,
) {
  await checkProduct(q, scope, product);
  const unique = [...new Set(codes.map((c) => c.trim()).filter((c) => c.length > 0))];
  const { rowCount } = await q.query(
    `insert into checkout_product_codes (merchant_id, mode, product_id, code, created)
     select $1, $2, $3, code, $5 from unnest($4::text[]) as code
     on conflict (merchant_id, mode, product_id, code) do nothing`,
    [scope.merchantId, scope.mode, product, unique, new Date(nowMs)],
  );
  return { ...(await productCodeCounts(q, scope, product)), added: rowCount };
}
