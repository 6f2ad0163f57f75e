import type smppTypes from "smpp";
import { resolveSecret } from "../sdk/auth.ts";
import { ConnectorBase, type ConnectorOptions } from "../sdk/base.ts";
import { Correlator } from "../sdk/callbacks.ts";
import { gate, outcomeLabel } from "../sdk/exchange.ts";
import { toDecimal } from "../sdk/money.ts";
import { type DeclineMap, declineFor } from "../sdk/outcome.ts";
import type {
  Capability,
  ChargeInput,
  Connector,
  Outcome,
  SendSmsInput,
  SendSmsOutput,
  SyncInput,
} from "../sdk/types.ts";
import {
  COMMAND_STATUS,
  DLR_BILLING_ERRORS,
  ESM_CLASS_DELIVERY_RECEIPT,
  field,
  MESSAGE_STATE,
  messageText,
  parseReceipt,
  registerBillingTlvs,
  smpp,
  TLV_BILLING_PRICE,
  TLV_BILLING_REF,
} from "./pdu.ts";

type Session = smppTypes.Session;
type PDU = smppTypes.PDU;

/**
 * SMPP 3.4 premium MT billing over a long-lived transceiver session. A charge is a `submit_sm`
 * with the billing TLVs; the money moved only when the delivery receipt says DELIVRD. Receipts
 * may come twice or out of order: the first final state wins, later ones are ignored. MO
 * messages (STOP, keywords) are raised as events. `sync` is a `query_sm` on our reference.
 */

export const ENQUIRE_LINK_PERIOD_MS = 30_000;
export const BIND_TIMEOUT_MS = 5_000;
/** How many receipts are remembered for de-duplication. */
export const RECEIPTS_REMEMBERED_MAX = 100_000;

export const SMPP_DECLINES: DeclineMap = {
  [`DLR:${DLR_BILLING_ERRORS.insufficient_funds}`]: {
    category: "insufficient_funds",
    retryable: true,
    retry_after_ms: 3_600_000,
  },
  [`DLR:${DLR_BILLING_ERRORS.barred}`]: { category: "barred" },
  [`DLR:${DLR_BILLING_ERRORS.limit_transaction}`]: { category: "limit_reached" },
  [`DLR:${DLR_BILLING_ERRORS.limit_month}`]: {
    category: "limit_reached",
    retryable: true,
    retry_after_ms: 86_400_000,
  },
  [`DLR:${DLR_BILLING_ERRORS.invalid_currency}`]: { category: "invalid" },
  [`DLR:${DLR_BILLING_ERRORS.transient}`]: {
    category: "limit_reached",
    retryable: true,
    retry_after_ms: 5_000,
  },
  ESME_RTHROTTLED: { category: "limit_reached", retryable: true, retry_after_ms: 1_000 },
  ESME_RMSGQFUL: { category: "limit_reached", retryable: true, retry_after_ms: 5_000 },
  ESME_RINVDSTADR: { category: "invalid" },
};

const FINAL_STATES: ReadonlySet<number> = new Set([
  MESSAGE_STATE.DELIVERED,
  MESSAGE_STATE.UNDELIVERABLE,
  MESSAGE_STATE.EXPIRED,
  MESSAGE_STATE.DELETED,
  MESSAGE_STATE.REJECTED,
]);
const STAT_TO_STATE: Record<string, number> = {
  ENROUTE: 1,
  DELIVRD: 2,
  EXPIRED: 3,
  DELETED: 4,
  UNDELIV: 5,
  ACCEPTD: 6,
  UNKNOWN: 7,
  REJECTD: 8,
};

export class SmppConnector extends ConnectorBase implements Connector {
  readonly protocol = "smpp";
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(["charge", "send_sms"]);
  private session: Promise<Session> | undefined;
  private readonly receipts = new Correlator();
  /** message_id → attempt_id, from submit_sm_resp. */
  private readonly attemptOfMessage = new Map<string, string>();
  /** Final receipts already applied, by message id: duplicates and late ENROUTEs stop here. */
  private readonly settled = new Map<string, Outcome>();
  /**
   * Attempts whose charge() is between submit_sm and its return, with the receipt that arrived
   * meanwhile (if any). That receipt is the call's to return (it reads `settled`); it becomes an
   * event only if the call returned something else (it timed out first). Under load a receipt can
   * arrive in the same read as submit_sm_resp, before the call resumes: it was then given twice,
   * as the call's answer and as an event.
   */
  private readonly charging = new Map<string, Outcome | null>();
  duplicateReceipts = 0;
  lateReceipts = 0;

  constructor(options: ConnectorOptions) {
    super(options, "smpp");
    registerBillingTlvs();
  }

  private declines(): DeclineMap {
    return { ...SMPP_DECLINES, ...this.options.operator.decline_codes };
  }

  /** Binds now, so MO messages (a payer texting a keyword) reach this connector before any charge. */
  async listen(): Promise<void> {
    await this.connect();
  }

  private connect(): Promise<Session> {
    this.session ??= new Promise<Session>((resolve, reject) => {
      const s = smpp.connect({
        host: this.options.smpp_host ?? "127.0.0.1",
        port: this.options.smpp_port ?? 2775,
        auto_enquire_link_period: ENQUIRE_LINK_PERIOD_MS,
      });
      const fail = (why: string) => {
        clearTimeout(timer);
        this.session = undefined;
        s.destroy();
        reject(new Error(why));
      };
      const timer = setTimeout(() => fail("bind timeout"), BIND_TIMEOUT_MS);
      s.on("error", () => fail("socket error"));
      s.on("close", () => {
        this.session = undefined;
      });
      s.on("deliver_sm", (pdu: PDU) => this.onDeliver(s, pdu));
      s.on("enquire_link", (pdu: PDU) => s.send(pdu.response()));
      s.on("connect", () => {
        // Small PDUs in both directions: Nagle plus delayed ACKs would add ~40 ms per exchange.
        s.socket.setNoDelay(true);
        const creds = this.options.operator.smpp;
        s.bind_transceiver(
          {
            system_id: creds.system_id,
            password: resolveSecret(creds.password),
            system_type: this.operator,
            interface_version: 0x34,
          },
          (resp: PDU) => {
            clearTimeout(timer);
            if (resp.command_status !== 0)
              return fail(`bind refused: ${COMMAND_STATUS[resp.command_status] ?? resp.command_status}`);
            resolve(s);
          },
        );
      });
    });
    return this.session;
  }

  /** Sends one PDU and waits for its response up to `timeout_ms`; undefined when none came. */
  private exchange(
    s: Session,
    command: "submit_sm" | "query_sm",
    fields: Record<string, unknown>,
    timeout_ms: number,
    onResponse?: (resp: PDU) => void,
  ): Promise<PDU | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeout_ms);
      const sent = s[command](fields, (resp: PDU) => {
        clearTimeout(timer);
        // Runs before any receipt that follows in the same read, so the receipt finds its attempt.
        onResponse?.(resp);
        resolve(resp);
      });
      if (!sent) {
        clearTimeout(timer);
        resolve(undefined);
      }
    });
  }

  private log(
    operation: string,
    attempt_id: string | undefined,
    request: Record<string, unknown>,
    response: PDU | undefined,
    outcome: unknown,
    startedMs: number,
  ): void {
    try {
      this.options.log.record({
        operator: this.operator,
        protocol: "smpp",
        operation,
        attempt_id,
        request,
        response: response
          ? {
              command: response.command,
              command_status: COMMAND_STATUS[response.command_status] ?? response.command_status,
              message_id: field(response, "message_id"),
              message_state: response.message_state,
            }
          : { error: "no response" },
        outcome: outcomeLabel(outcome),
        latency_ms: Math.round(performance.now() - startedMs),
      });
    } catch {}
  }

  async charge(input: ChargeInput): Promise<Outcome> {
    if (!input.msisdn) return { status: "not_sent", reason: "invalid_input" };
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "charge",
    });
    const started = performance.now();
    const deadline = input.deadline_ms ?? this.ctx.deadline_ms;
    const g = await gate(this.ctx, Math.min(deadline, 1_000));
    if (!g.ok) return g.outcome;
    let s: Session;
    try {
      s = await this.connect();
    } catch {
      this.ctx.breaker.failure();
      return { status: "not_sent", reason: "connect_failed" };
    }
    const fields = {
      source_addr: this.options.operator.smpp.shortcode,
      destination_addr: input.msisdn.replace(/^\+/, ""),
      registered_delivery: 1,
      short_message: input.description.slice(0, 160),
      [TLV_BILLING_REF.tag]: input.attempt_id,
      [TLV_BILLING_PRICE.tag]: `${toDecimal(input.amount, input.currency)} ${input.currency}`,
    };
    this.charging.set(input.attempt_id, null);
    let returned: Outcome | undefined;
    try {
      const resp = await this.exchange(s, "submit_sm", fields, deadline, (r) => {
        const id = r.command_status === 0 ? field(r, "message_id") : undefined;
        if (id) this.attemptOfMessage.set(id, input.attempt_id);
      });
      let outcome: Outcome;
      if (!resp) {
        this.ctx.breaker.failure();
        outcome = { status: "unknown", reason: "timeout" };
      } else if (resp.command_status !== 0) {
        this.ctx.breaker.success();
        const name = COMMAND_STATUS[resp.command_status] ?? `0x${resp.command_status.toString(16)}`;
        outcome = declineFor(name, this.declines()) ?? {
          status: "unknown",
          reason: `unmapped_status:${name}`,
        };
      } else {
        this.ctx.breaker.success();
        const id = field(resp, "message_id");
        if (!id) outcome = { status: "unknown", reason: "no_message_id" };
        else {
          // A replayed attempt gets the original message id: its receipt may already be settled.
          const known = this.settled.get(id);
          const remaining = known ? 0 : Math.max(0, deadline - (performance.now() - started));
          const wait = Math.min(remaining, this.options.callback_wait_ms ?? remaining);
          outcome = known ??
            (await this.receipts.wait(input.attempt_id, wait)) ?? {
              status: "pending",
              via: "receipt",
              provider_reference: id,
            };
          if (outcome.status !== "pending") this.receipts.forget(input.attempt_id);
        }
      }
      this.log("charge", input.attempt_id, { command: "submit_sm", ...fields }, resp, outcome, started);
      returned = outcome;
      return outcome;
    } finally {
      const arrived = this.charging.get(input.attempt_id);
      this.charging.delete(input.attempt_id);
      if (arrived && arrived !== returned)
        this.events.emit({ type: "outcome", attempt_id: input.attempt_id, outcome: arrived });
    }
  }

  /** A receipt's final state → outcome, for the attempt's asked amount (receipts carry none). */
  private receiptOutcome(attempt_id: string, message_id: string, state: number, err: string): Outcome {
    if (state === MESSAGE_STATE.DELIVERED) {
      const asked = this.memory.get(attempt_id);
      if (asked?.amount === undefined || !asked.currency)
        return { status: "unknown", reason: "receipt_for_unknown_attempt" };
      return {
        status: "succeeded",
        provider_reference: message_id,
        amount: asked.amount,
        currency: asked.currency,
      };
    }
    const code = `DLR:${err.replace(/^0+(?=\d)/, "").padStart(3, "0")}`;
    return declineFor(code, this.declines()) ?? { status: "unknown", reason: `unmapped_receipt:${code}` };
  }

  private onDeliver(s: Session, pdu: PDU): void {
    s.send(pdu.response());
    try {
      const esm = typeof pdu.esm_class === "number" ? pdu.esm_class : 0;
      const text = messageText(pdu.short_message);
      if ((esm & ESM_CLASS_DELIVERY_RECEIPT) === 0) {
        this.onMo(pdu, text);
        return;
      }
      const parsed = parseReceipt(text);
      const id = field(pdu, "receipted_message_id") ?? parsed?.id;
      const state =
        typeof pdu.message_state === "number"
          ? pdu.message_state
          : parsed
            ? STAT_TO_STATE[parsed.stat]
            : undefined;
      if (!id || state === undefined) return;
      if (!FINAL_STATES.has(state)) {
        if (this.settled.has(id)) this.lateReceipts += 1;
        return;
      }
      if (this.settled.has(id)) {
        this.duplicateReceipts += 1;
        return;
      }
      const attempt_id = this.attemptOfMessage.get(id) ?? field(pdu, TLV_BILLING_REF.tag);
      if (!attempt_id) return;
      const outcome = this.receiptOutcome(attempt_id, id, state, parsed?.err ?? "000");
      this.settled.set(id, outcome);
      if (this.settled.size > RECEIPTS_REMEMBERED_MAX)
        this.settled.delete(this.settled.keys().next().value ?? "");
      this.log(
        "receipt",
        attempt_id,
        { command: "deliver_sm", receipted_message_id: id, message_state: state },
        undefined,
        outcome,
        performance.now(),
      );
      if (this.receipts.resolve(attempt_id, outcome)) return;
      if (this.charging.has(attempt_id)) this.charging.set(attempt_id, outcome);
      else this.events.emit({ type: "outcome", attempt_id, outcome });
    } catch {
      // A malformed receipt is dropped; the attempt is settled by query_sm.
    }
  }

  private onMo(pdu: PDU, text: string): void {
    const upper = text.trim().toUpperCase().replace(/\s+/g, " ");
    const stop = this.options.operator.stop_keywords
      .filter((k) => upper === k || upper.startsWith(`${k} `))
      .sort((a, b) => b.length - a.length)[0];
    this.events.emit({
      type: "mo",
      msisdn: `+${field(pdu, "source_addr") ?? ""}`,
      shortcode: field(pdu, "destination_addr") ?? "",
      keyword: stop ?? upper.split(" ")[0] ?? "",
      text,
    });
  }

  /** `query_sm` on our billing reference: what the SMSC knows of this attempt. */
  async sync(raw: SyncInput): Promise<Outcome> {
    const input = this.memory.complete(raw);
    const started = performance.now();
    let s: Session;
    try {
      s = await this.connect();
    } catch {
      return { status: "unknown", reason: "sync_not_sent" };
    }
    const fields = {
      message_id: "",
      source_addr: this.options.operator.smpp.shortcode,
      [TLV_BILLING_REF.tag]: input.attempt_id,
    };
    const resp = await this.exchange(s, "query_sm", fields, input.deadline_ms ?? this.ctx.deadline_ms);
    let outcome: Outcome;
    if (!resp) outcome = { status: "unknown", reason: "timeout" };
    else if (resp.command_status === smpp.ESME_RQUERYFAIL)
      outcome = { status: "not_sent", reason: "not_found" };
    else if (resp.command_status !== 0)
      outcome = { status: "unknown", reason: `query_failed:${resp.command_status}` };
    else {
      const id = field(resp, "message_id") ?? "";
      const state = typeof resp.message_state === "number" ? resp.message_state : 0;
      const err = typeof resp.error_code === "number" ? String(resp.error_code) : "0";
      if (input.amount !== undefined && input.currency)
        this.memory.remember(input.attempt_id, { amount: input.amount, currency: input.currency });
      outcome = FINAL_STATES.has(state)
        ? this.receiptOutcome(input.attempt_id, id, state, err)
        : { status: "pending", via: "receipt", provider_reference: id };
    }
    this.log("sync", input.attempt_id, { command: "query_sm", ...fields }, resp, outcome, started);
    return outcome;
  }

  async sendSms(input: SendSmsInput): Promise<SendSmsOutput> {
    let s: Session;
    try {
      s = await this.connect();
    } catch {
      return { status: "failed", reason: "connect_failed" };
    }
    const started = performance.now();
    const fields = {
      source_addr: this.options.operator.smpp.shortcode,
      destination_addr: input.msisdn.replace(/^\+/, ""),
      short_message: input.text.slice(0, 160),
    };
    const resp = await this.exchange(s, "submit_sm", fields, input.deadline_ms ?? this.ctx.deadline_ms);
    const id = resp && resp.command_status === 0 ? field(resp, "message_id") : undefined;
    const out: SendSmsOutput = id
      ? { status: "sent", provider_reference: id }
      : { status: "failed", reason: resp ? (COMMAND_STATUS[resp.command_status] ?? "error") : "timeout" };
    this.log("send_sms", input.attempt_id, { command: "submit_sm", ...fields }, resp, out, started);
    return out;
  }

  override async close(): Promise<void> {
    const pending = this.session;
    this.session = undefined;
    if (!pending) return;
    const s = await pending.catch(() => undefined);
    if (!s) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        s.destroy();
        resolve();
      }, 500);
      s.unbind({}, () => {
        clearTimeout(timer);
        s.close(() => resolve());
      });
    });
  }
}
