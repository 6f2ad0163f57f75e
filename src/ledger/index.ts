export { accountId } from "./accounts.ts";
export { decide } from "./engine.ts";
export { BALANCE_SLOT_COUNT, Ledger } from "./ledger.ts";
export * from "./types.ts";
