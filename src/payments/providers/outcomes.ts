import type { Outcome } from "../../connectors/index.ts";
import type { ChargeOutcome, RefundStatus } from "../provider.ts";

/**
 * Connector outcomes in the payments' terms. Only an explicit, checked success is a success; a
 * request that certainly never left (`not_sent`) fails a first charge but, when we were only
 * asking about an earlier attempt, tells us nothing and is asked again later.
 */
export function chargeOutcome(
  o: Outcome,
  call: "charge" | "sync",
  capture: "automatic" | "manual",
): ChargeOutcome {
  switch (o.status) {
    case "succeeded":
      return capture === "automatic"
        ? { status: "succeeded", reference: o.provider_reference }
        : { status: "authorized", reference: o.provider_reference };
    case "pending":
      if (o.next_action?.type === "redirect") {
        return {
          status: "requires_redirect",
          url: o.next_action.url,
          ...(o.provider_reference ? { reference: o.provider_reference } : {}),
        };
      }
      return { status: "pending", ...(o.provider_reference ? { reference: o.provider_reference } : {}) };
    case "declined":
      return {
        status: "declined",
        code: o.category,
        message: `${o.code}${o.message ? `: ${o.message}` : ""}`,
        // Running out of credit or a limit is temporary whatever the operator's code table says.
        retryable: o.retryable || o.category === "insufficient_funds" || o.category === "limit_reached",
      };
    case "unknown":
      return { status: "unknown", reason: o.reason };
    case "not_sent":
      return call === "charge"
        ? {
            status: "declined",
            code: "provider_unavailable",
            message: `The provider could not be reached (${o.reason}); retry later.`,
            retryable: true,
          }
        : { status: "unknown", reason: `sync_${o.reason}` };
  }
}

export function refundStatus(o: Outcome, call: "refund" | "sync"): RefundStatus {
  switch (o.status) {
    case "succeeded":
      return { status: "succeeded", reference: o.provider_reference };
    case "declined":
      return { status: "failed", code: o.category };
    case "not_sent":
      return call === "refund" ? { status: "failed", code: "provider_unavailable" } : { status: "unknown" };
    case "pending":
      return { status: "pending" };
    case "unknown":
      return { status: "unknown" };
  }
}
