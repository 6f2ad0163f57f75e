/// <reference path="../../../types/smpp.d.ts" />
import smpp from "smpp";

/**
 * SMPP 3.4 pieces shared by the connector and the simulated SMSC: the vendor TLVs that carry
 * premium billing (operator-specific in real life [U]), the delivery-receipt text format and
 * the command_status table. Pure: no sockets here.
 */

/** Vendor-specific TLV range is 0x1400–0x3FFF. */
export const TLV_BILLING_REF = { tag: "centime_billing_ref", id: 0x1400 } as const;
export const TLV_BILLING_PRICE = { tag: "centime_billing_price", id: 0x1401 } as const;

let registered = false;
export function registerBillingTlvs(): void {
  if (registered) return;
  registered = true;
  smpp.addTLV(TLV_BILLING_REF.tag, { id: TLV_BILLING_REF.id, type: smpp.types.tlv.cstring });
  smpp.addTLV(TLV_BILLING_PRICE.tag, { id: TLV_BILLING_PRICE.id, type: smpp.types.tlv.cstring });
}

export const ESM_CLASS_DELIVERY_RECEIPT = 0x04;

/** message_state values (SMPP 3.4 §5.2.28). */
export const MESSAGE_STATE = {
  ENROUTE: 1,
  DELIVERED: 2,
  EXPIRED: 3,
  DELETED: 4,
  UNDELIVERABLE: 5,
  ACCEPTED: 6,
  UNKNOWN: 7,
  REJECTED: 8,
} as const;

export const STAT_TEXT: Record<number, string> = {
  1: "ENROUTE",
  2: "DELIVRD",
  3: "EXPIRED",
  4: "DELETED",
  5: "UNDELIV",
  6: "ACCEPTD",
  7: "UNKNOWN",
  8: "REJECTD",
};

export const COMMAND_STATUS: Record<number, string> = {
  0: "ESME_ROK",
  1: "ESME_RINVMSGLEN",
  2: "ESME_RINVCMDLEN",
  3: "ESME_RINVCMDID",
  4: "ESME_RINVBNDSTS",
  5: "ESME_RALYBND",
  8: "ESME_RSYSERR",
  10: "ESME_RINVSRCADR",
  11: "ESME_RINVDSTADR",
  12: "ESME_RINVMSGID",
  13: "ESME_RBINDFAIL",
  14: "ESME_RINVPASWD",
  15: "ESME_RINVSYSID",
  20: "ESME_RMSGQFUL",
  69: "ESME_RSUBMITFAIL",
  88: "ESME_RTHROTTLED",
  103: "ESME_RQUERYFAIL",
  255: "ESME_RUNKNOWNERR",
};

/** Billing error codes carried in the receipt's `err:` field (operator-specific [U]). */
export const DLR_BILLING_ERRORS = {
  insufficient_funds: "101",
  barred: "102",
  limit_transaction: "103",
  limit_month: "104",
  invalid_currency: "105",
  transient: "106",
} as const;

function yymmddhhmm(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, "").slice(2, 12);
}

export function receiptText(args: {
  id: string;
  state: number;
  err: string;
  submitMs: number;
  doneMs: number;
  text?: string;
}): string {
  const delivered = args.state === MESSAGE_STATE.DELIVERED ? "001" : "000";
  return (
    `id:${args.id} sub:001 dlvrd:${delivered} submit date:${yymmddhhmm(args.submitMs)} done date:${yymmddhhmm(args.doneMs)} ` +
    `stat:${STAT_TEXT[args.state] ?? "UNKNOWN"} err:${args.err.padStart(3, "0")} text:${(args.text ?? "").slice(0, 20)}`
  );
}

export interface Receipt {
  id: string;
  stat: string;
  err: string;
}

/** Reads the informative receipt format; vendors vary, so only id, stat and err are relied on. */
export function parseReceipt(text: string): Receipt | undefined {
  const id = /\bid:(\S+)/.exec(text)?.[1];
  const stat = /\bstat:(\w+)/.exec(text)?.[1];
  const err = /\berr:(\w+)/.exec(text)?.[1] ?? "000";
  if (!id || !stat) return undefined;
  return { id, stat: stat.toUpperCase(), err };
}

/** `short_message` arrives as a string, a Buffer, or `{message}` after the library's decoding. */
export function messageText(value: unknown): string {
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString("latin1");
  if (value && typeof value === "object" && "message" in value) {
    const m = (value as { message: unknown }).message;
    if (typeof m === "string") return m;
    if (Buffer.isBuffer(m)) return m.toString("latin1");
  }
  return "";
}

export function field(pdu: Record<string, unknown>, name: string): string | undefined {
  const v = pdu[name];
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  if (Buffer.isBuffer(v)) return v.toString("latin1").replace(/\0+$/, "");
  return undefined;
}

export { smpp };
