/**
 * What other folders use of payments through one entry (older imports reach into the folder
 * directly; they are listed in .dependency-cruiser-known-violations.json).
 */
export type { PayerCharge, PayerLimitsHook, PayerRefusal, PaymentsContext } from "./context.ts";
export { type PaymentRow, presentPayment } from "./model.ts";
export { approveHeldPayment, chargeApproved, listHeldPayments, refuseHeldPayment } from "./review.ts";
export { Payment as PaymentSchema } from "./routes.ts";
