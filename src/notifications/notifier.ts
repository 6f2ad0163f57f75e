import type { Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import { newId } from "../platform/ids.ts";
import type { Logger } from "../platform/log.ts";

/**
 * Messages to payers (one-time codes, receipts, subscription confirmations, renewal reminders) by
 * SMS or e-mail, through pluggable channels. Every message is recorded in `payer_messages`. A
 * channel that does not really deliver (the development set-up: the embedded carrier simulator,
 * no SMTP server) is a *catcher*: the message is kept whole so the API can list it
 * (`GET /v1/test_helpers/messages`); a channel that delivers keeps no secret body (a code is
 * replaced by dots).
 */
export type ChannelName = "sms" | "email";

export interface OutgoingMessage {
  channel: ChannelName;
  /** An E.164 MSISDN or a lower-case e-mail address. */
  to: string;
  kind: string;
  locale: string;
  subject?: string;
  text: string;
  /** Text that must not be stored once delivered (a one-time code). */
  secret?: string;
  merchantId?: string | null;
  mode?: string | null;
  /** The object the message is about (a payment, a subscription). */
  reference?: string | null;
}

export interface DeliveryResult {
  status: "sent" | "failed";
  reason?: string;
}

export interface Channel {
  /** false: nothing leaves this process (development); the catcher keeps the message. */
  readonly real: boolean;
  deliver(message: OutgoingMessage): Promise<DeliveryResult>;
}

/** Keeps messages for the catcher and delivers nothing (a channel with `real: false` is never called). */
export const catcherChannel: Channel = { real: false, deliver: async () => ({ status: "sent" }) };

export interface SentMessage {
  id: string;
  /** Whether the message really left (a caught one reached nobody). */
  real: boolean;
  status: "caught" | "sent" | "failed";
}

export class Notifier {
  constructor(
    private readonly db: Queryable,
    readonly channels: Record<ChannelName, Channel>,
    private readonly logger?: Logger,
  ) {}

  /** Whether a message on this channel would really leave. */
  isReal(channel: ChannelName): boolean {
    return this.channels[channel].real;
  }

  /** Delivers a message and records it. A delivery failure is recorded, never thrown. */
  async send(message: OutgoingMessage, nowMs: number): Promise<SentMessage> {
    const channel = this.channels[message.channel];
    let status: SentMessage["status"] = "caught";
    let reason: string | undefined;
    if (channel.real) {
      try {
        const result = await channel.deliver(message);
        status = result.status;
        reason = result.reason;
      } catch (error) {
        status = "failed";
        reason = error instanceof Error ? error.name : "error";
      }
    }
    const body =
      status === "caught" || message.secret === undefined
        ? message.text
        : message.text.split(message.secret).join("•".repeat(message.secret.length));
    const id = newId("msg", nowMs);
    await this.db.query(
      `insert into payer_messages (id, created, channel, recipient, kind, locale, subject, body, status, merchant_id, mode, reference)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        id,
        new Date(nowMs),
        message.channel,
        message.to,
        message.kind,
        message.locale,
        message.subject ?? null,
        body,
        status,
        message.merchantId ?? null,
        message.mode ?? null,
        message.reference ?? null,
      ],
    );
    if (status === "failed")
      this.logger?.warn({ message: id, kind: message.kind, reason }, "payer message failed");
    return { id, real: channel.real, status };
  }
}

export interface MessageRow {
  id: string;
  created: Date;
  channel: string;
  recipient: string;
  kind: string;
  locale: string;
  subject: string | null;
  body: string | null;
  status: string;
  merchant_id: string | null;
  mode: string | null;
  reference: string | null;
}

export function presentMessage(r: MessageRow) {
  return {
    id: r.id,
    object: "payer_message" as const,
    created: new Date(r.created).toISOString(),
    channel: r.channel,
    to: r.recipient,
    kind: r.kind,
    locale: r.locale,
    subject: r.subject,
    body: r.body,
    status: r.status,
    merchant: r.merchant_id,
    reference: r.reference,
  };
}

/** The development catcher: messages that never left, newest first, optionally to one recipient. */
export async function listCaughtMessages(q: Queryable, to: string | undefined, list: ListParams) {
  const where = ["status = 'caught'"];
  const params: unknown[] = [];
  if (to !== undefined) {
    params.push(to.startsWith("+") ? to : to.toLowerCase());
    where.push(`recipient = $${params.length}`);
  }
  const page = await listPage<MessageRow>(q, "payer_messages", where, params, list);
  return { rows: page.rows.map(presentMessage), hasMore: page.hasMore };
}
