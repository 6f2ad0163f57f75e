/**
 * The one error catalogue. Every error the API can answer is listed here with its HTTP status and
 * type; handlers throw `ApiError` with a code from this list, never free-form errors. The OpenAPI
 * document lists the same codes.
 */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "payment_error"
  | "rate_limit_error"
  | "idempotency_error"
  | "api_error";

interface CatalogueEntry {
  status: number;
  type: ErrorType;
  message: string;
}

export const ERROR_CATALOGUE = {
  // Request shape
  parameter_missing: {
    status: 400,
    type: "invalid_request_error",
    message: "A required parameter is missing.",
  },
  parameter_unknown: {
    status: 400,
    type: "invalid_request_error",
    message: "This parameter is not recognised.",
  },
  parameter_invalid_type: {
    status: 400,
    type: "invalid_request_error",
    message: "This parameter has the wrong type.",
  },
  parameter_invalid: { status: 400, type: "invalid_request_error", message: "This parameter is not valid." },
  parameter_too_long: { status: 400, type: "invalid_request_error", message: "This parameter is too long." },
  parameter_out_of_range: {
    status: 400,
    type: "invalid_request_error",
    message: "This parameter is out of range.",
  },
  amount_invalid: {
    status: 400,
    type: "invalid_request_error",
    message: "The amount must be a positive integer in the currency's minor unit, at most 9999999999.",
  },
  currency_invalid: {
    status: 400,
    type: "invalid_request_error",
    message: "The currency must be an upper-case ISO 4217 code.",
  },
  body_invalid_json: {
    status: 400,
    type: "invalid_request_error",
    message: "The request body is not valid JSON.",
  },
  body_too_large: { status: 413, type: "invalid_request_error", message: "The request body is too large." },
  body_not_object: {
    status: 400,
    type: "invalid_request_error",
    message: "The request body must be a JSON object.",
  },
  unsupported_media_type: {
    status: 415,
    type: "invalid_request_error",
    message: "Send the body as application/json.",
  },
  url_invalid: {
    status: 400,
    type: "invalid_request_error",
    message: "The request URL is not valid (a malformed percent-encoding?).",
  },
  url_too_long: {
    status: 414,
    type: "invalid_request_error",
    message: "A part of the request URL is too long.",
  },
  request_headers_too_large: {
    status: 431,
    type: "invalid_request_error",
    message: "The request's headers (or its query string) are too large.",
  },
  request_malformed: {
    status: 400,
    type: "invalid_request_error",
    message: "The request is not valid HTTP.",
  },
  resource_missing: { status: 404, type: "invalid_request_error", message: "No such object." },
  route_not_found: { status: 404, type: "invalid_request_error", message: "Unrecognised request URL." },
  method_not_allowed: {
    status: 405,
    type: "invalid_request_error",
    message: "This method is not allowed on this URL.",
  },
  // Authentication and permissions
  api_key_missing: {
    status: 401,
    type: "authentication_error",
    message: "Send your API key as 'Authorization: Bearer <key>'.",
  },
  api_key_invalid: {
    status: 401,
    type: "authentication_error",
    message: "The API key is not valid, or it was revoked or has expired.",
  },
  admin_key_required: { status: 403, type: "permission_error", message: "This request needs the admin key." },
  secret_key_required: {
    status: 403,
    type: "permission_error",
    message: "This request needs a secret key; publishable keys may only start checkouts.",
  },
  live_mode_unavailable: {
    status: 403,
    type: "permission_error",
    message: "This is not available in live mode.",
  },
  // Idempotency
  idempotency_key_invalid: {
    status: 400,
    type: "idempotency_error",
    message: "The Idempotency-Key must be 1 to 255 printable ASCII characters.",
  },
  idempotency_key_reused: {
    status: 422,
    type: "idempotency_error",
    message: "This Idempotency-Key was used with a different request.",
  },
  idempotency_key_in_use: {
    status: 409,
    type: "idempotency_error",
    message: "A request with this Idempotency-Key is still being processed; retry later.",
  },
  // Payments and refunds
  payment_method_invalid: {
    status: 400,
    type: "invalid_request_error",
    message: "The payment method is not valid.",
  },
  payment_method_unavailable: {
    status: 400,
    type: "invalid_request_error",
    message: "This payment method is not available in this mode.",
  },
  payment_unexpected_state: {
    status: 409,
    type: "invalid_request_error",
    message: "The payment is not in a state that allows this.",
  },
  amount_too_large: {
    status: 400,
    type: "invalid_request_error",
    message: "The amount is larger than what is available.",
  },
  refund_exceeds_captured: {
    status: 400,
    type: "invalid_request_error",
    message: "The refund would take the refunded total past the captured amount.",
  },
  incorrect_pin: { status: 402, type: "payment_error", message: "The PIN is not correct." },
  blocked_by_risk_rule: {
    status: 402,
    type: "payment_error",
    message: "A risk rule of the merchant refused this (see GET /v1/risk_decisions).",
  },
  // Billing
  subscription_unexpected_state: {
    status: 409,
    type: "invalid_request_error",
    message: "The subscription is not in a state that allows this.",
  },
  test_clock_advancing: {
    status: 409,
    type: "invalid_request_error",
    message: "The test clock is still advancing; wait until its status is ready.",
  },
  // Wallets, vouchers, commissions
  insufficient_funds: {
    status: 402,
    type: "payment_error",
    message: "The wallet does not hold enough to pay this amount.",
  },
  exchange_rate_missing: {
    status: 400,
    type: "invalid_request_error",
    message: "No exchange rate between these currencies is valid now.",
  },
  resource_already_exists: {
    status: 409,
    type: "invalid_request_error",
    message: "An object with this identifier already exists.",
  },
  voucher_invalid: {
    status: 400,
    type: "invalid_request_error",
    message: "This code cannot be redeemed.",
  },
  voucher_attempts_exceeded: {
    status: 429,
    type: "rate_limit_error",
    message: "Too many wrong codes; retry after the number of seconds in Retry-After.",
  },
  voucher_batch_unexpected_state: {
    status: 409,
    type: "invalid_request_error",
    message: "The voucher batch is not in a state that allows this.",
  },
  voucher_codes_gone: {
    status: 410,
    type: "invalid_request_error",
    message: "The printer's file of this batch was downloaded already; it is not kept.",
  },
  approver_is_creator: {
    status: 403,
    type: "permission_error",
    message:
      "A voucher batch is approved by an owner other than its creator, and not by someone its creator added.",
  },
  // Ledger (business rejections reached from the API)
  ledger_rejected: {
    status: 409,
    type: "invalid_request_error",
    message: "The ledger rejected this movement.",
  },
  // Checkout
  checkout_session_unexpected_state: {
    status: 409,
    type: "invalid_request_error",
    message: "The checkout session is not in a state that allows this.",
  },
  // Back office: staff, permissions, approvals, sign-in
  permission_denied: {
    status: 403,
    type: "permission_error",
    message: "Your role or key does not hold the permission this needs.",
  },
  permission_not_grantable: {
    status: 403,
    type: "permission_error",
    message: "Nobody may grant a permission they do not hold.",
  },
  staff_exists: {
    status: 409,
    type: "invalid_request_error",
    message: "This name or e-mail is already taken.",
  },
  approval_not_pending: {
    status: 409,
    type: "invalid_request_error",
    message: "This approval was already decided or has expired.",
  },
  approval_own_request: {
    status: 403,
    type: "permission_error",
    message: "The person who asked for an action cannot approve it: a second person must.",
  },
  approval_needs_person: {
    status: 403,
    type: "permission_error",
    message:
      "An API key cannot decide an approval: a person decides, signed in or with their personal staff key.",
  },
  approval_arguments_changed: {
    status: 409,
    type: "invalid_request_error",
    message: "The approval's arguments no longer match what was asked; it cannot run.",
  },
  signin_failed: {
    status: 401,
    type: "authentication_error",
    message: "The sign-in details are not correct.",
  },
  // Payers: accounts, sessions, one-time codes, refund requests
  payer_exists: {
    status: 409,
    type: "invalid_request_error",
    message: "An account with this e-mail address already exists; sign in instead.",
  },
  payer_token_invalid: {
    status: 401,
    type: "authentication_error",
    message: "Sign in again: the payer token is missing, not valid or has expired.",
  },
  payer_code_invalid: {
    status: 401,
    type: "authentication_error",
    message: "The code is not correct, has expired or was tried too often; ask for a new one.",
  },
  payer_identity_taken: {
    status: 409,
    type: "invalid_request_error",
    message: "This number or address already belongs to another payer account.",
  },
  refund_request_unexpected_state: {
    status: 409,
    type: "invalid_request_error",
    message: "The refund request was already answered.",
  },
  // Limits
  rate_limited: {
    status: 429,
    type: "rate_limit_error",
    message: "Too many requests; retry after the number of seconds in Retry-After.",
  },
  provider_refused: {
    status: 502,
    type: "api_error",
    message: "The payment provider refused this operation; nothing was changed.",
  },
  // Server
  internal_error: {
    status: 500,
    type: "api_error",
    message: "Something went wrong on our side; it has been logged.",
  },
  service_unavailable: {
    status: 503,
    type: "api_error",
    message: "The service is not ready; retry shortly.",
  },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class ApiError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  constructor(
    readonly code: ErrorCode,
    readonly param?: string,
    message?: string,
    readonly headers?: Record<string, string>,
  ) {
    const entry: CatalogueEntry = ERROR_CATALOGUE[code];
    super(message ?? entry.message);
    this.status = entry.status;
    this.type = entry.type;
  }

  toBody(): { error: { type: ErrorType; code: ErrorCode; message: string; param?: string } } {
    return {
      error: {
        type: this.type,
        code: this.code,
        message: this.message,
        ...(this.param === undefined ? {} : { param: this.param }),
      },
    };
  }
}

/** Our own bugs: an invariant that does not hold. Crash loudly rather than corrupt money. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}
