import type { Queryable } from "../db/db.ts";

export interface CustomerSearch {
  merchantId: string;
  mode: string;
  /** An id, an e-mail, a phone number (MSISDN) or the start of a name; empty lists all. */
  q?: string;
  /** The last id of the previous page (ids sort by time: newest first). */
  after?: string;
  limit: number;
}

export interface FoundCustomer {
  id: string;
  email: string | null;
  msisdn: string | null;
  name: string | null;
  external_id: string | null;
  country: string | null;
  created: Date;
}

export type CustomerQuery =
  | { field: "id"; value: string }
  | { field: "email"; value: string }
  | { field: "msisdn"; value: string }
  | { field: "name"; value: string };

/** What the search box means: `cus_…` an id, an `@` an e-mail, 7 to 15 digits a number, else a name. */
export function interpretCustomerQuery(q: string): CustomerQuery | null {
  const text = q.trim();
  if (text === "") return null;
  if (/^cus_[0-9a-z]+$/.test(text)) return { field: "id", value: text };
  if (text.includes("@")) return { field: "email", value: text.toLowerCase() };
  const digits = text.replace(/[\s().-]/g, "");
  if (/^\+?\d{7,15}$/.test(digits))
    return { field: "msisdn", value: digits.startsWith("+") ? digits : `+${digits}` };
  return { field: "name", value: text.toLowerCase() };
}

/** LIKE's own characters in what a person typed match themselves. */
function likePrefix(text: string): string {
  return `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * One page of a merchant's customers matching the search, newest first. An e-mail and a name use
 * the indexes of 0220_backoffice_customer_search.sql, an MSISDN the payers' index (0150); a name also
 * matches the merchant's own reference (external_id) exactly. Each stays around a millisecond
 * over a million customers (docs/backoffice.md).
 */
export async function searchCustomers(
  q: Queryable,
  search: CustomerSearch,
): Promise<{ rows: FoundCustomer[]; hasMore: boolean }> {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [search.merchantId, search.mode];
  const bind = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const meaning = search.q ? interpretCustomerQuery(search.q) : null;
  if (meaning?.field === "id") where.push(`id = ${bind(meaning.value)}`);
  if (meaning?.field === "email") where.push(`lower(email) = ${bind(meaning.value)}`);
  if (meaning?.field === "msisdn") where.push(`msisdn = ${bind(meaning.value)}`);
  if (meaning?.field === "name") {
    where.push(
      `(lower(metadata ->> 'name') like ${bind(likePrefix(meaning.value))} escape '\\' or external_id = ${bind(search.q?.trim())})`,
    );
  }
  if (search.after) where.push(`id < ${bind(search.after)}`);
  const { rows } = await q.query<FoundCustomer>(
    `select id, email, msisdn, metadata ->> 'name' as name, external_id, country, created from customers
     where ${where.join(" and ")} order by id desc limit ${bind(search.limit + 1)}`,
    params,
  );
  return { rows: rows.slice(0, search.limit), hasMore: rows.length > search.limit };
}
