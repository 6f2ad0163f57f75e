import type { Queryable } from "../db/db.ts";

export interface PaymentSearch {
  merchantId: string;
  mode: string;
  /** An id, a customer id, an MSISDN or a card's last four digits. */
  q?: string;
  status?: string;
  limit?: number;
}

export interface FoundPayment {
  id: string;
  status: string;
  amount: bigint;
  currency: string;
  amount_refunded: bigint;
  customer_id: string | null;
  payment_method: { type: string; msisdn?: string; last4?: string; brand?: string };
  created: Date;
}

/** What a search box query means: ids, MSISDNs (E.164 or national digits) and last four. */
export function interpretQuery(
  q: string,
): { field: "id" | "customer" | "msisdn" | "last4"; value: string } | null {
  const text = q.trim().replace(/[\s().-]/g, "");
  if (text === "") return null;
  if (/^pay_[0-9a-z]+$/.test(text)) return { field: "id", value: text };
  if (/^cus_[0-9a-z]+$/.test(text)) return { field: "customer", value: text };
  if (/^\d{4}$/.test(text)) return { field: "last4", value: text };
  if (/^\+?\d{7,15}$/.test(text)) return { field: "msisdn", value: text.startsWith("+") ? text : `+${text}` };
  return null;
}

/**
 * Payments of one merchant matching the search, newest first. Each field has its own index
 * (0121_backoffice_search.sql), so this stays fast over millions of payments.
 */
export async function searchPayments(q: Queryable, search: PaymentSearch): Promise<FoundPayment[]> {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [search.merchantId, search.mode];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace("?", `$${params.length}`));
  };
  const meaning = search.q ? interpretQuery(search.q) : null;
  if (search.q && !meaning) return [];
  if (meaning?.field === "id") add("id = ?", meaning.value);
  if (meaning?.field === "customer") add("customer_id = ?", meaning.value);
  if (meaning?.field === "msisdn") add("(payment_method ->> 'msisdn') = ?", meaning.value);
  if (meaning?.field === "last4") add("(payment_method ->> 'last4') = ?", meaning.value);
  if (search.status) add("status = ?", search.status);
  params.push(search.limit ?? 50);
  const { rows } = await q.query<FoundPayment>(
    `select id, status, amount, currency, amount_refunded, customer_id, payment_method, created from payments
     where ${where.join(" and ")} order by id desc limit $${params.length}`,
    params,
  );
  return rows;
}
