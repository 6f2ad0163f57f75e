/**
 * The CAMARA Carrier Billing versions this connector speaks, by the version an operator declares
 * (`protocol_version` in operators.config.json). Only v0.5 (Carrier Billing v0.5.0, release r3.2,
 * with Carrier Billing Refund v0.3.0) is kept: the earlier `payment/v0` proposals were never
 * released for operators to run, and no operator we know of needs them.
 */
export interface CamaraVersion {
  /** Path of the payments API under the operator's `apiRoot`. */
  payments: string;
  /** Path of the refund API under the same `apiRoot`. */
  refunds: string;
}

export const CAMARA_VERSIONS: Readonly<Record<string, CamaraVersion>> = {
  "v0.5": { payments: "carrier-billing/v0.5", refunds: "carrier-billing-refund/v0.3" },
};

export const CAMARA_SPEC_LINKS = {
  payments:
    "https://github.com/camaraproject/CarrierBillingCheckOut/blob/r3.2/code/API_definitions/carrier-billing.yaml",
  refunds:
    "https://github.com/camaraproject/CarrierBillingCheckOut/blob/r3.2/code/API_definitions/carrier-billing-refund.yaml",
};
