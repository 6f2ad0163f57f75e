/**
 * The carrier-connectivity layer's public API, for the payments core.
 *
 *   configureCarrierNetwork({http_url, smpp_host, smpp_port, settlement_dir})  where operators live
 *   configureConnectors({log, callback_url, callback_secret})                  sinks for every connector
 *   listOperators() / getOperator(id) / resolveOperator({msisdn, operator?, headers?})
 *   connectorFor(operatorOrId) → Connector  (charge, refund, reserve, capture, release, sync, …)
 *   cardPspConnector()                      the card PSP sandbox
 *   closeConnectors()                       on shutdown
 */
export { CamaraConnector } from "./camara/index.ts";
export { CardPspConnector } from "./cardpsp/index.ts";
export { OneApiConnector } from "./oneapi/index.ts";
export type {
  CarrierNetwork,
  CarrierRules,
  ConnectorSettings,
  Operator,
  OperatorQuirks,
  ProtocolName,
  ResolveResult,
} from "./operators/index.ts";
export {
  CARD_PSP_OPERATOR,
  cardPspConnector,
  cardPspUrl,
  carrierNetwork,
  carrierRulesFor,
  circuitStates,
  closeConnectors,
  configureCarrierNetwork,
  configureConnectors,
  connectorFor,
  createConnector,
  currencyOfCountry,
  getOperator,
  hasPinStep,
  hlrLookup,
  listOperators,
  moReceiverFor,
  normaliseMsisdn,
  operatorCapabilities,
  operatorSummary,
  operatorsInCountry,
  PROTOCOL_CAPABILITIES,
  resolveOperator,
  sendTestMo,
  type TestMo,
  testNetworkCode,
  testNumberCountry,
} from "./operators/index.ts";
export { ParlayXConnector } from "./parlayx/index.ts";
export { huaweiPassword, signatureHeader, verifySignature } from "./sdk/auth.ts";
export type { ConnectorOptions } from "./sdk/base.ts";
export type { ConformanceFixture, Scenario } from "./sdk/conformance.ts";
export { SCENARIOS, scenariosFor, settle } from "./sdk/conformance.ts";
export { sendHttp } from "./sdk/http.ts";
export { digitsOf, fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "./sdk/money.ts";
export { asRecord, asText, parseSoap, soapEnvelope, soapFaultXml } from "./sdk/soap.ts";
export * from "./sdk/types.ts";
export type { ResponseLine } from "./settlement/format.ts";
export { parseRequestFile, SETTLEMENT_ERRORS, writeResponseFile } from "./settlement/format.ts";
export { SettlementConnector } from "./settlement/index.ts";
export { SmppConnector } from "./smpp/index.ts";
export {
  DLR_BILLING_ERRORS,
  ESM_CLASS_DELIVERY_RECEIPT,
  field,
  MESSAGE_STATE,
  messageText,
  receiptText,
  registerBillingTlvs,
  smpp,
  TLV_BILLING_PRICE,
  TLV_BILLING_REF,
} from "./smpp/pdu.ts";
