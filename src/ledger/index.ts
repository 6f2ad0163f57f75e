export { accountId } from "./accounts.ts";
export { decide } from "./engine.ts";
export { BALANCE_SLOT_COUNT, insertTransfersSql, Ledger, upsertBalancesSql } from "./ledger.ts";
export { type AccountPeriod, availablePeriods } from "./statements.ts";
export * from "./types.ts";
