import type { AddressInfo } from "node:net";
import type smppTypes from "smpp";
import {
  DLR_BILLING_ERRORS,
  ESM_CLASS_DELIVERY_RECEIPT,
  field,
  fromDecimal,
  MESSAGE_STATE,
  messageText,
  receiptText,
  registerBillingTlvs,
  smpp,
  TLV_BILLING_PRICE,
  TLV_BILLING_REF,
} from "../connectors/index.ts";
import type { SimContext } from "./context.ts";
import type { Txn } from "./network.ts";

type Session = smppTypes.Session;
type PDU = smppTypes.PDU;

/**
 * The simulated SMSC: SMPP 3.4 over TCP. An ESME binds as transceiver with `system_type` set to
 * the operator's MCC+MNC. A `submit_sm` carrying the billing TLVs is a premium MT: the charge is
 * confirmed by a delivery receipt (`deliver_sm`, esm_class 0x04). Receipts may be duplicated or
 * preceded by a late ENROUTE (seeded), `…0003` numbers never get a `submit_sm_resp`, `…0004`
 * numbers get their receipt late. `query_sm` with the billing reference TLV answers the state.
 */

export interface Smsc {
  port: number;
  /** Drops every bound session (an SMSC restart or a network cut), for reconnect tests. */
  dropSessions(): number;
  /** Sends an MO message (keyword to shortcode) to every session bound for the operator. */
  sendMo(args: { operator: string; msisdn: string; shortcode: string; text: string }): number;
  close(): Promise<void>;
}

function stateOf(txn: Txn): number {
  if (txn.status === "charged") return MESSAGE_STATE.DELIVERED;
  if (txn.status === "refunded") return MESSAGE_STATE.DELIVERED;
  return MESSAGE_STATE.UNDELIVERABLE;
}

function errOf(txn: Txn): string {
  return txn.reason ? DLR_BILLING_ERRORS[txn.reason] : "000";
}

export async function startSmsc(ctx: SimContext, port: number, host: string): Promise<Smsc> {
  registerBillingTlvs();
  const bound = new Map<Session, string>();

  const sendReceipt = (session: Session, txn: Txn, state: number) => {
    const now = Date.now();
    const text = receiptText({
      id: txn.id,
      state,
      err: state === MESSAGE_STATE.ENROUTE ? "000" : errOf(txn),
      submitMs: txn.created_ms,
      doneMs: now,
    });
    session.deliver_sm({
      source_addr: txn.msisdn.replace(/^\+/, ""),
      destination_addr: txn.extra.shortcode ?? "",
      esm_class: ESM_CLASS_DELIVERY_RECEIPT,
      short_message: text,
      receipted_message_id: txn.id,
      message_state: state,
      [TLV_BILLING_REF.tag]: txn.key,
    });
  };

  const deliverReceipts = (session: Session, txn: Txn, delay_ms: number) => {
    ctx.later(() => {
      if (!bound.has(session)) return;
      const final = stateOf(txn);
      sendReceipt(session, txn, final);
      // Ordering is not guaranteed by real SMSCs: an ENROUTE may follow the final receipt.
      if (ctx.net.random() < ctx.config.dlr_out_of_order_rate)
        sendReceipt(session, txn, MESSAGE_STATE.ENROUTE);
      if (ctx.net.random() < ctx.config.dlr_duplicate_rate) sendReceipt(session, txn, final);
    }, delay_ms);
  };

  const server = smpp.createServer({ debug: false }, (session: Session) => {
    session.socket.setNoDelay(true);
    session.on("error", () => {});
    session.on("close", () => bound.delete(session));
    session.on("bind_transceiver", (pdu: PDU) => {
      const operator = field(pdu, "system_type") ?? "";
      if (!ctx.net.operator(operator))
        return session.send(pdu.response({ command_status: smpp.ESME_RINVSYSID }));
      if (field(pdu, "system_id") !== ctx.config.username || field(pdu, "password") !== ctx.config.password) {
        return session.send(pdu.response({ command_status: smpp.ESME_RINVPASWD }));
      }
      bound.set(session, operator);
      session.send(pdu.response({ system_id: "centime-smsc" }));
    });
    session.on("enquire_link", (pdu: PDU) => session.send(pdu.response()));
    session.on("unbind", (pdu: PDU) => {
      session.send(pdu.response());
      bound.delete(session);
    });
    session.on("submit_sm", (pdu: PDU) => {
      const operator = bound.get(session);
      if (!operator) return session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      void (async () => {
        await ctx.latency();
        const msisdn = `+${field(pdu, "destination_addr") ?? ""}`;
        const ref = field(pdu, TLV_BILLING_REF.tag);
        const price = field(pdu, TLV_BILLING_PRICE.tag);
        const text = messageText(pdu.short_message);
        if (!ref || !price) {
          // A free MT (PIN, receipt): accepted, delivered.
          const id = ctx.net.nextId("MSG");
          ctx.net.sendSms(operator, msisdn, text);
          session.send(pdu.response({ message_id: id }));
          return;
        }
        const [amountText = "", currency = ""] = price.split(" ");
        const amount = fromDecimal(amountText, currency);
        if (amount === undefined || amount <= 0n || !/^\+\d{6,15}$/.test(msisdn)) {
          session.send(pdu.response({ command_status: smpp.ESME_RINVDSTADR }));
          return;
        }
        const r = ctx.net.charge({
          scope: `${operator}/smpp`,
          key: ref,
          operator,
          protocol: "smpp",
          msisdn,
          amount,
          currency,
          description: text,
          extra: { shortcode: field(pdu, "source_addr") ?? "" },
        });
        if (r.kind === "transient") {
          session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
          return;
        }
        const txn = r.txn;
        // The first submission of a `…0003` number is charged but its response is lost.
        if (r.kind === "applied" && txn.behaviour === "hang") return;
        session.send(pdu.response({ message_id: txn.id }));
        const delay = r.kind === "applied" && txn.behaviour === "callback" ? ctx.config.callback_delay_ms : 0;
        deliverReceipts(session, txn, delay);
      })();
    });
    session.on("query_sm", (pdu: PDU) => {
      const operator = bound.get(session);
      if (!operator) return session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      const ref = field(pdu, TLV_BILLING_REF.tag);
      const id = field(pdu, "message_id");
      const txn = ref ? ctx.net.txnByKey(`${operator}/smpp`, ref) : id ? ctx.net.txnById(id) : undefined;
      if (!txn)
        return session.send(pdu.response({ command_status: smpp.ESME_RQUERYFAIL, message_id: id ?? "" }));
      session.send(
        pdu.response({
          message_id: txn.id,
          final_date: "",
          message_state: stateOf(txn),
          error_code: Number(errOf(txn)) % 256,
        }),
      );
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });

  return {
    port: (server.address() as AddressInfo).port,
    sendMo({ operator, msisdn, shortcode, text }) {
      let sent = 0;
      for (const [session, op] of bound) {
        if (op !== operator) continue;
        session.deliver_sm({
          source_addr: msisdn.replace(/^\+/, ""),
          destination_addr: shortcode,
          esm_class: 0,
          short_message: text,
        });
        sent += 1;
      }
      return sent;
    },
    dropSessions() {
      const all = [...server.sessions];
      for (const s of all) s.destroy();
      return all.length;
    },
    close() {
      return new Promise((resolve) => {
        for (const s of [...server.sessions]) s.destroy();
        server.close(() => resolve());
      });
    },
  };
}
