import { PROTOCOL_CAPABILITIES, resolveOperator } from "../connectors/operators/index.ts";
import { ApiError } from "../platform/errors.ts";
import type { Mode } from "../platform/scope.ts";
import type { PaymentMethod, SandboxScenario } from "./model.ts";

/** A payment method as the API receives it. */
export type PaymentMethodInput =
  | { type: "sandbox"; scenario: SandboxScenario }
  | { type: "carrier"; msisdn: string; operator?: string; flow?: "mo" }
  | { type: "card"; number: string; exp_month: number; exp_year: number; cvc: string }
  | { type: "wallet" };

export interface ResolvedMethod {
  /** What is stored and shown: never a full card number. */
  stored: PaymentMethod;
  provider: "sandbox" | "carrier" | "card" | "wallet";
  /** What only the first call to the provider may see. */
  secretDetails?: Record<string, unknown>;
}

const RESOLVE_FAILURES: Record<string, { param: string; message: string }> = {
  invalid_msisdn: {
    param: "payment_method.msisdn",
    message: "The MSISDN is not a valid international number (E.164, e.g. +33612345678).",
  },
  unknown_operator: {
    param: "payment_method.operator",
    message: "No operator with this MCC+MNC is in the registry.",
  },
  operator_country_mismatch: {
    param: "payment_method.operator",
    message: "This operator does not serve the MSISDN's country.",
  },
  no_operator_in_country: {
    param: "payment_method.msisdn",
    message: "No operator in the registry serves this number's country.",
  },
  lookup_failed: {
    param: "payment_method.operator",
    message: "The operator of this number could not be found; name it in payment_method.operator.",
  },
};

function luhnValid(number: string): boolean {
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let digit = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

function brandOf(number: string): string {
  if (number.startsWith("4")) return "visa";
  if (/^(5[1-5]|2[2-7])/.test(number)) return "mastercard";
  if (/^3[47]/.test(number)) return "amex";
  return "unknown";
}

/** Checks a payment method against the world (operators, card rules) and the request's mode and currency. */
export async function resolvePaymentMethod(
  input: PaymentMethodInput,
  context: { mode: Mode; currency: string; nowMs: number; headers?: Record<string, string | undefined> },
): Promise<ResolvedMethod> {
  switch (input.type) {
    case "sandbox":
      if (context.mode !== "test") {
        throw new ApiError(
          "payment_method_unavailable",
          "payment_method.type",
          "The sandbox payment method is only available in test mode.",
        );
      }
      return { stored: input, provider: "sandbox" };
    case "carrier": {
      const resolved = await resolveOperator({
        msisdn: input.msisdn,
        ...(input.operator ? { operator: input.operator } : {}),
        ...(context.headers ? { headers: context.headers } : {}),
      });
      if (resolved.status === "failed") {
        const failure = RESOLVE_FAILURES[resolved.reason]!;
        throw new ApiError("payment_method_invalid", failure.param, failure.message);
      }
      const operator = resolved.operator;
      if (operator.currency && operator.currency !== context.currency) {
        throw new ApiError(
          "currency_invalid",
          "currency",
          `${operator.name} (${operator.id}) charges in ${operator.currency}.`,
        );
      }
      if (input.flow === "mo" && !operator.smpp.shortcode) {
        throw new ApiError(
          "payment_method_invalid",
          "payment_method.flow",
          `${operator.name} (${operator.id}) takes no MO messages.`,
        );
      }
      const flow =
        input.flow ?? (PROTOCOL_CAPABILITIES[operator.protocol].includes("consent") ? "pin" : "direct");
      return {
        stored: { type: "carrier", msisdn: resolved.msisdn, operator: operator.id, flow },
        provider: "carrier",
      };
    }
    case "wallet":
      // The customer's wallet in the payment's (inner) currency; the wallets capability checks both.
      return { stored: { type: "wallet" }, provider: "wallet" };
    case "card": {
      const number = input.number.replace(/[\s-]/g, "");
      if (!/^\d{12,19}$/.test(number) || !luhnValid(number)) {
        throw new ApiError(
          "payment_method_invalid",
          "payment_method.number",
          "The card number is not valid.",
        );
      }
      const now = new Date(context.nowMs);
      const expired =
        input.exp_year < now.getUTCFullYear() ||
        (input.exp_year === now.getUTCFullYear() && input.exp_month < now.getUTCMonth() + 1);
      if (expired)
        throw new ApiError("payment_method_invalid", "payment_method.exp_year", "The card has expired.");
      return {
        stored: {
          type: "card",
          brand: brandOf(number),
          last4: number.slice(-4),
          exp_month: input.exp_month,
          exp_year: input.exp_year,
        },
        provider: "card",
        secretDetails: { number, exp_month: input.exp_month, exp_year: input.exp_year, cvc: input.cvc },
      };
    }
  }
}
