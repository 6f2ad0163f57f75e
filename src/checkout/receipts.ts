import type { Db, Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import type { PaymentRow } from "../payments/index.ts";
import { newId } from "../platform/ids.ts";
import { formatDateTime, formatMoney } from "../web/index.ts";
import { CHECKOUT_MESSAGES, sessionLocale } from "./messages.ts";
import type { SessionRow } from "./model.ts";

/**
 * Receipts to payers, through a pluggable sender. Each receipt is written to `checkout_receipts`
 * (status `outbox`) in the transaction that completes the session, so none is lost or sent for
 * a payment that did not happen; a sender then delivers the outbox. The development sender
 * (`outbox`, the default) sends nothing: receipts stay readable through
 * `GET /v1/checkout_receipts`.
 */
export interface Receipt {
  id: string;
  channel: "email";
  recipient: string;
  subject: string;
  body: string;
}

export interface ReceiptSender {
  /** `outbox` keeps receipts for reading; any other sender delivers them. */
  readonly name: string;
  send(receipt: Receipt): Promise<void>;
}

export const outboxSender: ReceiptSender = { name: "outbox", send: async () => {} };

export async function queueReceipt(
  tx: Queryable,
  session: SessionRow,
  payment: Pick<PaymentRow, "id" | "payment_method">,
  nowMs: number,
): Promise<void> {
  let email = session.payer.email;
  if (!email && session.customer_id) {
    const { rows } = await tx.query<{ email: string | null }>("select email from customers where id = $1", [
      session.customer_id,
    ]);
    email = rows[0]?.email ?? undefined;
  }
  if (!email) return;
  const { rows } = await tx.query<{ name: string }>("select name from merchants where id = $1", [
    session.merchant_id,
  ]);
  const merchant = rows[0]?.name ?? "";
  // In the payer's language: the session's locale, as on the confirmation page.
  const locale = sessionLocale(session.locale);
  const t = CHECKOUT_MESSAGES.translator(locale);
  const amount = formatMoney(session.amount_total, session.currency, locale);
  const lines = session.line_items.map(
    (item) => `${item.quantity} × ${item.variant ? `${item.name} (${item.variant})` : item.name}`,
  );
  const body = [
    t("receipt.greeting", { merchant }),
    ...lines,
    t("receipt.amount", { amount }),
    t("receipt.date", { date: formatDateTime(new Date(nowMs), locale) }),
    t("receipt.status_paid"),
    t("receipt.reference", { reference: payment.id }),
    ...session.codes.map((c) => t("receipt.code", { code: c.code })),
  ].join("\n");
  const subject = t("receipt.subject", { merchant, amount });
  await tx.query(
    `insert into checkout_receipts (id, merchant_id, mode, session_id, channel, recipient, subject, body, status, created)
     values ($1, $2, $3, $4, 'email', $5, $6, $7, 'outbox', $8)`,
    [
      newId("rcpt", nowMs),
      session.merchant_id,
      session.mode,
      session.id,
      email,
      subject,
      body,
      new Date(nowMs),
    ],
  );
}

/** Delivers waiting receipts with a real sender; the outbox sender leaves them. */
export async function sendQueuedReceipts(db: Db, sender: ReceiptSender): Promise<number> {
  if (sender.name === "outbox") return 0;
  const { rows } = await db.query<Receipt>(
    "select id, channel, recipient, subject, body from checkout_receipts where status = 'outbox' order by id limit 50",
  );
  for (const receipt of rows) {
    let status = "sent";
    try {
      await sender.send(receipt);
    } catch {
      status = "failed";
    }
    await db.query("update checkout_receipts set status = $2 where id = $1 and status = 'outbox'", [
      receipt.id,
      status,
    ]);
  }
  return rows.length;
}

export async function listReceipts(
  q: Queryable,
  scope: { merchantId: string; mode: string },
  sessionId: string | undefined,
  page: ListParams,
) {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  if (sessionId !== undefined) {
    params.push(sessionId);
    where.push(`session_id = $${params.length}`);
  }
  const result = await listPage<{
    id: string;
    session_id: string;
    mode: string;
    channel: string;
    recipient: string;
    subject: string;
    body: string;
    status: string;
    created: Date;
  }>(q, "checkout_receipts", where, params, page);
  return {
    hasMore: result.hasMore,
    rows: result.rows.map((r) => ({
      id: r.id,
      object: "receipt" as const,
      created: new Date(r.created).toISOString(),
      livemode: r.mode === "live",
      checkout_session: r.session_id,
      channel: r.channel,
      recipient: r.recipient,
      subject: r.subject,
      body: r.body,
      status: r.status,
    })),
  };
}
