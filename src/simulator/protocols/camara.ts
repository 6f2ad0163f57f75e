import { when } from "./when.ts";

/**
 * The project's own schema of CAMARA Carrier Billing v0.5.0 and Carrier Billing Refund v0.3.0,
 * written from the facts of the published specifications (paths, fields, types, required fields,
 * enumerations, patterns), as plain JSON Schema. The simulator accepts exactly what these accept,
 * and the protocol-validation test checks every recorded exchange against them.
 */

type Schema = Record<string, unknown>;

const PHONE = { type: "string", pattern: "^\\+[1-9][0-9]{4,14}$" };
const DATE_TIME = { type: "string", format: "date-time" };
const SINK = { type: "string", format: "uri", pattern: "^https:\\/\\/.+$" };
const AMOUNT = { type: "number", multipleOf: 0.001, minimum: 0.001 };
const TAX = { type: "number", multipleOf: 0.001, minimum: 0 };

export const PAYMENT_STATUSES = [
  "processing",
  "pending_validation",
  "denied",
  "reserved",
  "succeeded",
  "cancelled",
];

const chargingInformation: Schema = {
  type: "object",
  required: ["amount", "currency", "description"],
  properties: {
    amount: AMOUNT,
    currency: { type: "string" },
    description: { type: "string" },
    isTaxIncluded: { type: "boolean" },
    taxAmount: TAX,
  },
};

const chargingMetaData: Schema = {
  type: "object",
  properties: {
    merchantName: { type: "string" },
    merchantIdentifier: { type: "string" },
    fee: { type: "number", multipleOf: 0.01 },
    purchaseCategoryCode: { type: "string" },
    channel: { type: "string" },
    serviceId: { type: "string" },
    productId: { type: "string" },
  },
};

const paymentItem: Schema = {
  type: "object",
  required: ["id", "amount", "currency", "description"],
  properties: {
    id: { type: "string" },
    amount: AMOUNT,
    currency: { type: "string" },
    description: { type: "string" },
    isTaxIncluded: { type: "boolean" },
    taxAmount: TAX,
  },
};

const paymentAmount: Schema = {
  type: "object",
  required: ["chargingInformation"],
  properties: {
    chargingInformation,
    chargingMetaData,
    paymentDetails: { type: "array", minItems: 1, items: paymentItem },
  },
};

/** `SinkCredential`: PLAIN, ACCESSTOKEN or REFRESHTOKEN, each with its required members. */
const sinkCredential: Schema = {
  type: "object",
  required: ["credentialType"],
  properties: { credentialType: { enum: ["PLAIN", "ACCESSTOKEN", "REFRESHTOKEN"] } },
  allOf: [
    when(
      { properties: { credentialType: { const: "PLAIN" } } },
      {
        required: ["identifier", "secret"],
        properties: { identifier: { type: "string" }, secret: { type: "string" } },
      },
    ),
    when(
      { properties: { credentialType: { enum: ["ACCESSTOKEN", "REFRESHTOKEN"] } } },
      {
        required: ["accessToken", "accessTokenExpiresUtc", "accessTokenType"],
        properties: {
          accessToken: { type: "string" },
          accessTokenExpiresUtc: DATE_TIME,
          accessTokenType: { enum: ["bearer"] },
        },
      },
    ),
    when(
      { properties: { credentialType: { const: "REFRESHTOKEN" } } },
      {
        required: ["refreshToken", "refreshTokenEndpoint"],
        properties: {
          refreshToken: { type: "string" },
          refreshTokenEndpoint: { type: "string", format: "uri" },
        },
      },
    ),
  ],
};

/** `AmountTransactionInput` and `AmountReservationTransactionForReserveInput` have the same facts. */
const amountTransactionInput: Schema = {
  type: "object",
  required: ["paymentAmount", "referenceCode"],
  properties: {
    phoneNumber: PHONE,
    clientCorrelator: { type: "string" },
    paymentAmount,
    referenceCode: { type: "string" },
  },
};

const amountTransaction: Schema = {
  type: "object",
  required: ["phoneNumber", "paymentAmount", "referenceCode"],
  properties: {
    phoneNumber: PHONE,
    clientCorrelator: { type: "string" },
    paymentAmount,
    referenceCode: { type: "string" },
    resourceURL: { type: "string" },
    serverReferenceCode: { type: "string" },
  },
};

const validationInfo: Schema = {
  type: "object",
  required: ["action"],
  properties: { action: { enum: ["open", "validate"] } },
  allOf: [
    when(
      { properties: { action: { const: "open" } } },
      { required: ["validationURL"], properties: { validationURL: { type: "string" } } },
    ),
    when(
      { properties: { action: { const: "validate" } } },
      { required: ["authorizationId"], properties: { authorizationId: { type: "string" } } },
    ),
  ],
};

const payment: Schema = {
  type: "object",
  required: ["amountTransaction", "paymentId", "paymentStatus", "paymentCreationDate"],
  properties: {
    paymentId: { type: "string" },
    amountTransaction,
    paymentStatus: { type: "string" },
    paymentCreationDate: DATE_TIME,
    paymentDate: DATE_TIME,
    sink: SINK,
  },
};

const errorInfo = (status: number, codes: string[]): Schema => ({
  type: "object",
  required: ["status", "code", "message"],
  properties: {
    status: { type: "integer", const: status },
    code: { enum: codes },
    message: { type: "string" },
  },
});

const createRefund: Schema = {
  type: "object",
  required: ["type", "amountTransaction"],
  properties: {
    type: { enum: ["total", "partial"] },
    reason: { type: "string" },
    sink: SINK,
    sinkCredential,
    amountTransaction: {
      type: "object",
      required: ["refundAmount", "referenceCode"],
      properties: {
        clientCorrelator: { type: "string" },
        referenceCode: { type: "string" },
        refundAmount: { type: "object" },
      },
    },
  },
  allOf: [
    when(
      { properties: { type: { const: "partial" } } },
      {
        properties: {
          amountTransaction: {
            properties: {
              refundAmount: {
                type: "object",
                required: ["chargingInformation"],
                properties: {
                  chargingInformation,
                  chargingMetaData,
                  refundDetails: {
                    type: "array",
                    minItems: 1,
                    items: {
                      type: "object",
                      required: ["paymentItemId", "amount", "currency", "description"],
                      properties: {
                        paymentItemId: { type: "string" },
                        amount: AMOUNT,
                        currency: { type: "string" },
                        description: { type: "string" },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
      {
        properties: {
          amountTransaction: {
            properties: { refundAmount: { type: "object", properties: { chargingMetaData } } },
          },
        },
      },
    ),
  ],
};

const refund: Schema = {
  ...createRefund,
  required: ["refundId", "refundStatus", "refundCreationDate", "type", "amountTransaction"],
  properties: {
    ...(createRefund.properties as Schema),
    refundId: { type: "string" },
    refundStatus: { type: "string" },
    refundCreationDate: DATE_TIME,
    refundDate: DATE_TIME,
  },
};

const cloudEvent = (types: Record<string, Schema>): Schema => ({
  type: "object",
  required: ["id", "source", "specversion", "type", "time"],
  properties: {
    id: { type: "string", minLength: 1 },
    source: { type: "string", format: "uri-reference", minLength: 1 },
    type: { type: "string", minLength: 25, enum: Object.keys(types) },
    specversion: { type: "string", minLength: 3 },
    datacontenttype: { type: "string" },
    data: { type: "object" },
    time: DATE_TIME,
  },
  allOf: Object.entries(types).map(([type, data]) =>
    when({ properties: { type: { const: type } } }, { properties: { data } }),
  ),
});

const basicPaymentEvent = (extra: Schema = {}, required: string[] = []): Schema => ({
  type: "object",
  required: ["paymentId", "status", "description", ...required],
  properties: {
    paymentId: { type: "string" },
    status: { enum: ["succeeded", "failed"] },
    description: { type: "string" },
    ...extra,
  },
});
const basicRefundEvent = (extra: Schema = {}, required: string[] = []): Schema => ({
  type: "object",
  required: ["paymentId", "refundId", "status", "description", ...required],
  properties: {
    paymentId: { type: "string" },
    refundId: { type: "string" },
    status: { enum: ["succeeded", "failed"] },
    description: { type: "string" },
    ...extra,
  },
});

const PAY_EVENT = "org.camaraproject.carrier-billing.v0.";
const REFUND_EVENT = "org.camaraproject.carrier-billing-refund.v0.";

export const CAMARA_SCHEMAS = {
  CreatePayment: {
    type: "object",
    required: ["amountTransaction"],
    properties: { amountTransaction: amountTransactionInput, sink: SINK, sinkCredential },
  },
  PreparePayment: {
    type: "object",
    required: ["amountTransaction"],
    properties: { amountTransaction: amountTransactionInput, sink: SINK, sinkCredential },
  },
  PhoneNumber: { type: "object", properties: { phoneNumber: PHONE } },
  ValidatePayment: {
    type: "object",
    required: ["authorizationId", "code"],
    properties: { authorizationId: { type: "string" }, code: { type: "string" } },
  },
  Payment: payment,
  PaymentArray: { type: "array", items: payment },
  PreparedPayment: {
    ...payment,
    properties: { ...(payment.properties as Schema), validationInfo },
  },
  CreateRefund: createRefund,
  Refund: refund,
  RefundArray: { type: "array", items: refund },
  PaymentRemainingAmount: {
    type: "object",
    required: ["amount", "currency"],
    properties: { amount: TAX, currency: { type: "string" }, description: { type: "string" } },
  },
  PaymentEvent: cloudEvent({
    [`${PAY_EVENT}payment-pending-validation`]: basicPaymentEvent(),
    [`${PAY_EVENT}payment-reserved`]: basicPaymentEvent(),
    [`${PAY_EVENT}payment-completed`]: basicPaymentEvent({ paymentDate: DATE_TIME }, ["paymentDate"]),
    [`${PAY_EVENT}payment-cancelled`]: basicPaymentEvent(),
    [`${PAY_EVENT}payment-denied`]: basicPaymentEvent({ denialReason: { type: "string" } }),
  }),
  RefundEvent: cloudEvent({
    [`${REFUND_EVENT}refund-completed`]: basicRefundEvent({ refundDate: DATE_TIME }, ["refundDate"]),
    [`${REFUND_EVENT}refund-denied`]: basicRefundEvent({ denialReason: { type: "string" } }),
    [`${REFUND_EVENT}refund-in-bill`]: basicRefundEvent(),
  }),
} satisfies Record<string, Schema>;

/** Error codes each operation may answer, by HTTP status (from the specs' response objects). */
export const CAMARA_ERRORS: Record<string, Record<number, string[]>> = {
  createPayment: {
    400: ["INVALID_ARGUMENT", "INVALID_CREDENTIAL", "INVALID_TOKEN", "INVALID_SINK"],
    401: ["UNAUTHENTICATED"],
    403: ["PERMISSION_DENIED", "CARRIER_BILLING.PAYMENT_DENIED"],
    404: ["IDENTIFIER_NOT_FOUND"],
    409: ["ALREADY_EXISTS"],
    422: [
      "SERVICE_NOT_APPLICABLE",
      "MISSING_IDENTIFIER",
      "UNNECESSARY_IDENTIFIER",
      "CARRIER_BILLING.UNAUTHORIZED_AMOUNT",
      "CARRIER_BILLING.USER_AMOUNT_THRESHOLD_OVERPASSED",
    ],
    429: ["TOO_MANY_REQUESTS"],
  },
  retrievePayments: {
    400: [
      "INVALID_ARGUMENT",
      "OUT_OF_RANGE",
      "CARRIER_BILLING.INVALID_DATE_RANGE",
      "CARRIER_BILLING.TOO_MANY_MATCHING_RECORDS",
    ],
    401: ["UNAUTHENTICATED"],
    403: ["PERMISSION_DENIED"],
    429: ["TOO_MANY_REQUESTS"],
  },
  retrievePayment: {
    400: ["INVALID_ARGUMENT"],
    401: ["UNAUTHENTICATED"],
    403: ["PERMISSION_DENIED"],
    404: ["NOT_FOUND"],
    429: ["TOO_MANY_REQUESTS"],
  },
  validatePayment: {
    400: [
      "INVALID_ARGUMENT",
      "CARRIER_BILLING.INVALID_AUTHORIZATION_ID",
      "CARRIER_BILLING.INVALID_CODE",
      "CARRIER_BILLING.VALIDATION_FAILED",
    ],
    401: ["UNAUTHENTICATED"],
    403: ["PERMISSION_DENIED"],
    404: ["NOT_FOUND"],
    409: ["ALREADY_EXISTS"],
    429: ["TOO_MANY_REQUESTS"],
  },
  confirmPayment: {
    400: ["INVALID_ARGUMENT"],
    401: ["UNAUTHENTICATED"],
    403: ["PERMISSION_DENIED", "CARRIER_BILLING.PAYMENT_DENIED"],
    404: ["NOT_FOUND", "IDENTIFIER_NOT_FOUND"],
    409: ["ALREADY_EXISTS", "CARRIER_BILLING.PAYMENT_CONFIRMED", "CARRIER_BILLING.PAYMENT_CANCELLED"],
    422: ["SERVICE_NOT_APPLICABLE", "MISSING_IDENTIFIER", "UNNECESSARY_IDENTIFIER"],
    429: ["TOO_MANY_REQUESTS"],
  },
  cancelPayment: {
    400: ["INVALID_ARGUMENT"],
    401: ["UNAUTHENTICATED"],
    403: ["PERMISSION_DENIED"],
    404: ["NOT_FOUND", "IDENTIFIER_NOT_FOUND"],
    409: ["ALREADY_EXISTS", "CARRIER_BILLING.PAYMENT_CONFIRMED", "CARRIER_BILLING.PAYMENT_CANCELLED"],
    422: ["SERVICE_NOT_APPLICABLE", "MISSING_IDENTIFIER", "UNNECESSARY_IDENTIFIER"],
    429: ["TOO_MANY_REQUESTS"],
  },
  createRefund: {
    400: ["INVALID_ARGUMENT", "INVALID_CREDENTIAL", "INVALID_TOKEN", "INVALID_SINK"],
    401: ["UNAUTHENTICATED"],
    403: [
      "PERMISSION_DENIED",
      "CARRIER_BILLING_REFUND.REFUND_DENIED",
      "CARRIER_BILLING_REFUND.PAYMENT_NOT_ELIGIBLE_FOR_REFUND",
    ],
    404: ["NOT_FOUND"],
    409: ["ALREADY_EXISTS"],
    422: [
      "CARRIER_BILLING_REFUND.UNAUTHORIZED_AMOUNT",
      "CARRIER_BILLING_REFUND.USER_AMOUNT_THRESHOLD_OVERPASSED",
      "CARRIER_BILLING_REFUND.INVALID_PAYMENT_STATUS",
      "CARRIER_BILLING_REFUND.TAXES_MANAGEMENT_MISMATCH",
      "CARRIER_BILLING_REFUND.REFUND_DETAILS_MISMATCH",
    ],
    429: ["TOO_MANY_REQUESTS"],
  },
  retrieveRefunds: {
    400: [
      "INVALID_ARGUMENT",
      "OUT_OF_RANGE",
      "CARRIER_BILLING_REFUND.INVALID_DATE_RANGE",
      "CARRIER_BILLING_REFUND.TOO_MANY_MATCHING_RECORDS",
    ],
    401: ["UNAUTHENTICATED"],
    403: ["PERMISSION_DENIED"],
    404: ["NOT_FOUND"],
    429: ["TOO_MANY_REQUESTS"],
  },
};

export function errorSchema(operation: string, status: number): Schema | undefined {
  const codes = CAMARA_ERRORS[operation]?.[status];
  return codes ? errorInfo(status, codes) : undefined;
}

/** The operations by method and path (under `{apiRoot}`), with what each sends and answers. */
export interface CamaraOperation {
  id: string;
  method: "GET" | "POST";
  path: RegExp;
  request?: keyof typeof CAMARA_SCHEMAS;
  responses: Record<number, keyof typeof CAMARA_SCHEMAS | null>;
}

const P = "/carrier-billing/v0\\.5/payments";
const R = "/carrier-billing-refund/v0\\.3/payments/[^/]+/refunds";
export const CAMARA_OPERATIONS: CamaraOperation[] = [
  {
    id: "createPayment",
    method: "POST",
    path: new RegExp(`${P}$`),
    request: "CreatePayment",
    responses: { 201: "Payment" },
  },
  { id: "retrievePayments", method: "GET", path: new RegExp(`${P}$`), responses: { 200: "PaymentArray" } },
  {
    id: "preparePayment",
    method: "POST",
    path: new RegExp(`${P}/prepare$`),
    request: "PreparePayment",
    responses: { 201: "PreparedPayment" },
  },
  {
    id: "validatePayment",
    method: "POST",
    path: new RegExp(`${P}/[^/]+/validate$`),
    request: "ValidatePayment",
    responses: { 204: null },
  },
  {
    id: "confirmPayment",
    method: "POST",
    path: new RegExp(`${P}/[^/]+/confirm$`),
    request: "PhoneNumber",
    responses: { 202: null },
  },
  {
    id: "cancelPayment",
    method: "POST",
    path: new RegExp(`${P}/[^/]+/cancel$`),
    request: "PhoneNumber",
    responses: { 202: null },
  },
  {
    id: "retrievePayment",
    method: "GET",
    path: new RegExp(`${P}/(?!prepare$)[^/]+$`),
    responses: { 200: "Payment" },
  },
  {
    id: "createRefund",
    method: "POST",
    path: new RegExp(`${R}$`),
    request: "CreateRefund",
    responses: { 201: "Refund" },
  },
  { id: "retrieveRefunds", method: "GET", path: new RegExp(`${R}$`), responses: { 200: "RefundArray" } },
  {
    id: "retrieveRefund",
    method: "GET",
    path: new RegExp(`${R}/(?!remaining-amount$)[^/]+$`),
    responses: { 200: "Refund" },
  },
  {
    id: "retrievePaymentRemainingAmount",
    method: "GET",
    path: new RegExp(`${R}/remaining-amount$`),
    responses: { 200: "PaymentRemainingAmount" },
  },
];
