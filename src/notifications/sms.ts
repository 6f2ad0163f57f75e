import { connectorFor, resolveOperator } from "../connectors/index.ts";
import { newId } from "../platform/ids.ts";
import type { Channel, OutgoingMessage } from "./notifier.ts";

/** How long one SMS submission may take before it counts as failed. */
export const SMS_DEADLINE_MS = 5_000;

/**
 * SMS through the payer's operator: the number is routed like a carrier payment (the operator
 * serving it), then sent with that operator's SMS API (OneAPI outbound SMS or SMPP `submit_sm`),
 * the same path Centime's own one-time codes for carrier payments take. An operator whose
 * protocol has no SMS API cannot be reached: the message fails, and says why.
 */
export function operatorSmsChannel(options: { real: boolean }): Channel {
  return {
    real: options.real,
    async deliver(message: OutgoingMessage) {
      const resolved = await resolveOperator({ msisdn: message.to, test_numbers: !options.real });
      if (resolved.status !== "resolved") return { status: "failed", reason: resolved.reason };
      const connector = connectorFor(resolved.operator);
      if (!connector?.sendSms || !connector.capabilities.has("send_sms"))
        return { status: "failed", reason: "operator_without_sms" };
      const answer = await connector.sendSms({
        attempt_id: newId("msg"),
        msisdn: resolved.msisdn,
        text: message.text,
        deadline_ms: SMS_DEADLINE_MS,
      });
      return answer.status === "sent" ? { status: "sent" } : { status: "failed", reason: answer.reason };
    },
  };
}
