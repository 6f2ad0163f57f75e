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
  normaliseMsisdn,
  operatorCapabilities,
  operatorSummary,
  operatorsInCountry,
  PROTOCOL_CAPABILITIES,
  resolveOperator,
} from "./operators/index.ts";
export { ParlayXConnector } from "./parlayx/index.ts";
export type { ConnectorOptions } from "./sdk/base.ts";
export type { ConformanceFixture, Scenario } from "./sdk/conformance.ts";
export { SCENARIOS, scenariosFor, settle } from "./sdk/conformance.ts";
export * from "./sdk/types.ts";
export { SettlementConnector } from "./settlement/index.ts";
export { SmppConnector } from "./smpp/index.ts";
