/** Idempotency keys: the gate every POST passes, and the records flows claim. See docs/idempotency.md. */
export { IdempotencyConflict } from "./conflict.ts";
export { type IdempotencyContext, IdempotencyGate } from "./gate.ts";
export {
  claimIdempotencyKey,
  claimKeysSql,
  claimOpenKey,
  completeIdempotencyRecords,
  completeKey,
  deleteExpiredIdempotencyKeys,
  findIdempotencyRecord,
  type IdempotencyRecord,
  idempotencyRowJson,
  releaseOpenKey,
} from "./store.ts";
export { idempotentTransaction, type StoredResult } from "./transaction.ts";
