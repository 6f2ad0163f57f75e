/** Four-eyes approvals: an action asked by one person, run only once a second one approves. */
export {
  APPROVAL_TTL_MS,
  type ApprovalAction,
  type ApprovalRow,
  type ApprovalStatus,
  Approvals,
  argumentsHash,
  presentApproval,
} from "./service.ts";
