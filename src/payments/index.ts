/**
 * What other folders use of payments through one entry (older imports reach into the folder
 * directly; they are listed in .dependency-cruiser-known-violations.json).
 */

export { type ArchiveStore, DiskArchiveStore, S3ArchiveStore, type S3Settings } from "./archive-store.ts";
export { cancelPayment } from "./capture.ts";
export { confirmPayment } from "./confirm.ts";
export type { PayerCharge, PayerLimitsHook, PayerRefusal, PaymentsContext } from "./context.ts";
export { insertRows, interactionRow, paymentEvents } from "./context.ts";
export type { CreatePaymentInput } from "./create.ts";
export { createPayment } from "./create.ts";
export type { PaymentExtensions, PaymentRequest, PreparedPayment } from "./extensions.ts";
export type { PaymentMethod, RefundRow } from "./model.ts";
export { type PaymentRow, presentPayment } from "./model.ts";
export { newPaymentRow } from "./new-payment.ts";
export type {
  ChargeOutcome,
  ChargeRequest,
  DeclinedOutcome,
  PaymentMethodInput,
  PaymentProvider,
  ProviderAnswer,
  RefundAnswer,
  RefundStatus,
  ResolvedMethod,
  SyncRequest,
} from "./provider.ts";
export { settleUnseenAttempt } from "./provider.ts";
export { SANDBOX_PIN } from "./providers/sandbox.ts";
export { getPayment, paymentTimeline } from "./queries.ts";
export { createRefund } from "./refund.ts";
export { ProviderRegistry } from "./registry.ts";
export { approveHeldPayment, chargeApproved, listHeldPayments, refuseHeldPayment } from "./review.ts";
export { Payment as PaymentSchema } from "./routes.ts";
export type { Transition } from "./transitions.ts";
export { applyChargeOutcome, paymentAccounts } from "./transitions.ts";
