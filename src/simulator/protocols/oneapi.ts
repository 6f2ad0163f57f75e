import { when } from "./when.ts";

/**
 * The project's own schema of GSMA OneAPI Payment (RESTful, v1) and of the OneAPI SMS outbound
 * request used to text one-time codes, written from the published URI templates, parameters and
 * JSON shapes. JSON requests carry the same transaction object as the responses, wrapped in
 * `amountTransaction` (`amountReservationTransaction` for reservations); v1 form requests carry
 * the same names as parameters.
 */

type Schema = Record<string, unknown>;

/** `{serverRoot}/{apiVersion}/payment/{endUserId}/transactions/amount` and the reservation ones. */
export const ONEAPI_PATHS = {
  amount: /\/(v\d+)\/payment\/([^/]+)\/transactions\/amount$/,
  amountReservation: /\/(v\d+)\/payment\/([^/]+)\/transactions\/amountReservation$/,
  amountReservationTransaction: /\/(v\d+)\/payment\/([^/]+)\/transactions\/amountReservation\/([^/]+)$/,
  smsOutbound: /\/(v\d+)\/smsmessaging\/outbound\/([^/]+)\/requests$/,
};

/** Mandatory charge and refund parameters (form) or members (JSON). */
export const CHARGE_MANDATORY = [
  "endUserId",
  "transactionOperationStatus",
  "referenceCode",
  "description",
  "currency",
  "amount",
];
export const REFUND_MANDATORY = [...CHARGE_MANDATORY, "clientCorrelator", "originalServerReferenceCode"];

const chargingInformation: Schema = {
  type: "object",
  required: ["amount", "currency", "description"],
  properties: {
    amount: { type: "number", exclusiveMinimum: 0 },
    currency: { type: "string", pattern: "^[A-Z]{3}$" },
    description: { type: "string" },
    purchaseCategoryCode: { type: "string" },
  },
};

/** A release moves no money: its charging information may say 0. */
const releasableChargingInformation: Schema = {
  ...chargingInformation,
  properties: { ...(chargingInformation.properties as Schema), amount: { type: "number", minimum: 0 } },
};

const transactionRequest = (statuses: string[], extraRequired: string[] = []): Schema => ({
  type: "object",
  required: ["endUserId", "paymentAmount", "referenceCode", "transactionOperationStatus", ...extraRequired],
  properties: {
    endUserId: { type: "string", minLength: 1 },
    paymentAmount: {
      type: "object",
      required: ["chargingInformation"],
      properties: {
        chargingInformation: statuses.includes("Released")
          ? releasableChargingInformation
          : chargingInformation,
      },
    },
    referenceCode: { type: "string", minLength: 1 },
    clientCorrelator: { type: "string", minLength: 1 },
    transactionOperationStatus: { enum: statuses },
    originalServerReferenceCode: { type: "string", minLength: 1 },
    callbackURL: { type: "string" },
    referenceSequence: { type: "integer" },
    onBehalfOf: { type: "string" },
    purchaseCategoryCode: { type: "string" },
    channel: { type: "string" },
  },
});

/** Responses carry the shape's members and no others. */
const transactionResponse: Schema = {
  type: "object",
  additionalProperties: false,
  required: [
    "endUserId",
    "paymentAmount",
    "referenceCode",
    "serverReferenceCode",
    "resourceURL",
    "transactionOperationStatus",
  ],
  properties: {
    clientCorrelator: { type: "string" },
    endUserId: { type: "string" },
    paymentAmount: {
      type: "object",
      required: ["chargingInformation"],
      properties: {
        chargingInformation,
        totalAmountCharged: { type: "number" },
        amountReserved: { type: "number" },
      },
    },
    referenceCode: { type: "string" },
    serverReferenceCode: { type: "string" },
    resourceURL: { type: "string" },
    transactionOperationStatus: { type: "string" },
    referenceSequence: { type: "integer" },
  },
};

const exception: Schema = {
  type: "object",
  required: ["messageId", "text"],
  properties: {
    messageId: { type: "string", pattern: "^(SVC|POL)\\d{4}$" },
    text: { type: "string" },
    variables: { type: "array", items: { type: "string" } },
  },
};

export const ONEAPI_SCHEMAS = {
  ChargeRequest: {
    type: "object",
    required: ["amountTransaction"],
    properties: { amountTransaction: transactionRequest(["Charged", "Refunded"]) },
    allOf: [
      when(
        {
          properties: {
            amountTransaction: { properties: { transactionOperationStatus: { const: "Refunded" } } },
          },
        },
        {
          properties: {
            amountTransaction: { required: ["clientCorrelator", "originalServerReferenceCode"] },
          },
        },
      ),
    ],
  },
  ReservationRequest: {
    type: "object",
    required: ["amountReservationTransaction"],
    properties: {
      amountReservationTransaction: transactionRequest(
        ["Reserved", "Charged", "Released"],
        ["referenceSequence"],
      ),
    },
  },
  TransactionResponse: {
    type: "object",
    required: ["amountTransaction"],
    properties: { amountTransaction: transactionResponse },
  },
  ReservationResponse: {
    type: "object",
    required: ["amountReservationTransaction"],
    properties: { amountReservationTransaction: transactionResponse },
  },
  RequestError: {
    type: "object",
    required: ["requestError"],
    properties: {
      requestError: {
        type: "object",
        oneOf: [
          { required: ["serviceException"], properties: { serviceException: exception } },
          { required: ["policyException"], properties: { policyException: exception } },
        ],
      },
    },
  },
  SmsRequest: {
    type: "object",
    required: ["outboundSMSMessageRequest"],
    properties: {
      outboundSMSMessageRequest: {
        type: "object",
        required: ["address", "senderAddress", "outboundSMSTextMessage"],
        properties: {
          address: { type: "array", minItems: 1, items: { type: "string" } },
          senderAddress: { type: "string" },
          outboundSMSTextMessage: {
            type: "object",
            required: ["message"],
            properties: { message: { type: "string", minLength: 1 } },
          },
          clientCorrelator: { type: "string" },
        },
      },
    },
  },
  SmsResponse: {
    type: "object",
    required: ["resourceReference"],
    properties: {
      resourceReference: {
        type: "object",
        required: ["resourceURL"],
        properties: { resourceURL: { type: "string" } },
      },
    },
  },
} satisfies Record<string, Schema>;
