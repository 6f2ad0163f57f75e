/** The public entry of vouchers/: what other folders may use. */
export { Redemptions } from "./redeem.ts";
export { VoucherBatches } from "./service.ts";
