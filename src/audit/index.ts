/** The audit log: who did what, when, from where; append-only and hash-chained. */
export { AUDIT_LANES, type AuditDraft, appendAudit, GENESIS_HASH } from "./chain.ts";
export {
  type Actor,
  type ActorKind,
  actionName,
  currentAudit,
  detachedFromRequest,
  type RequestAudit,
  redact,
  runAudited,
} from "./context.ts";
export {
  AuditHeadMoved,
  AuditLanes,
  auditChainSql,
  type ChainedAudit,
  chainBatch,
  chainKnown,
  type LaneClaim,
  noAuditParams,
} from "./lanes.ts";
export { ensureAuditPartitions } from "./partitions.ts";
export { listAuditEvents, presentAuditEvent } from "./queries.ts";
export {
  draftFor,
  objectOf,
  recordAfter,
  recordInTransaction,
  recordSystem,
  type SystemChange,
} from "./record.ts";
export { exportCheckpoint, type VerifyResult, verifyAuditChain } from "./verify.ts";
