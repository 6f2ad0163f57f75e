import { createHash } from "node:crypto";
import type { Approvals } from "../approvals/index.ts";
import type { Community } from "../community/index.ts";
import type { AccountSpec, Ledger } from "../ledger/index.ts";
import type { PaymentsContext } from "../payments/index.ts";
import { createRefund } from "../payments/index.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { Mode } from "../platform/scope.ts";
import type { StaffDirectory } from "../staff/index.ts";
import { assertNotBatchCreator } from "./vouchers.ts";

export interface AdjustmentArguments {
  merchant: string;
  mode: Mode;
  currency: string;
  amount: number;
  /** `credit`: the merchant's available balance grows; `debit`: it shrinks. */
  direction: "credit" | "debit";
  reason: string;
}

/** A manual adjustment moves money between the merchant's balance and its adjustments account. */
function adjustmentAccounts(args: AdjustmentArguments): { available: AccountSpec; adjustments: AccountSpec } {
  const base = {
    merchantId: args.merchant,
    mode: args.mode,
    ownerId: args.merchant,
    currency: args.currency,
  };
  return {
    available: { ...base, purpose: "available" },
    adjustments: { ...base, purpose: "manual_adjustments" },
  };
}

/** The actions the back office itself puts behind a second person. */
export function registerBackOfficeActions(deps: {
  approvals: Approvals;
  ledger: Ledger;
  payments: PaymentsContext;
  staff: StaffDirectory;
  community: Community;
}): void {
  deps.approvals.register({
    name: "ledger.adjustment",
    permission: "ledger:adjust",
    runs: "in_transaction",
    prepare: async (args, meta) => {
      const { available, adjustments } = adjustmentAccounts(args as unknown as AdjustmentArguments);
      await deps.ledger.ensureAccounts([available, adjustments], meta.nowMs);
    },
    execute: async (tx, raw, meta) => {
      const args = raw as unknown as AdjustmentArguments;
      const [available, adjustments] = await deps.ledger.ensureAccounts(
        [adjustmentAccounts(args).available, adjustmentAccounts(args).adjustments],
        meta.nowMs,
      );
      const amount = BigInt(args.amount);
      if (amount <= 0n) throw new ApiError("amount_invalid", "amount");
      const journalId = newId("jrn", meta.nowMs);
      const [debit, credit] =
        args.direction === "credit" ? [adjustments!, available!] : [available!, adjustments!];
      const [result] = await deps.ledger.apply(
        tx,
        [
          {
            id: newId("tr", meta.nowMs),
            journalId,
            code: "manual_adjustment",
            reference: meta.approval.id,
            type: "single_phase",
            debitAccountId: debit.id,
            creditAccountId: credit.id,
            amount,
            currency: args.currency,
          },
        ],
        { nowMs: meta.nowMs },
      );
      if (result !== "ok" && result !== "exists")
        throw new ApiError("ledger_rejected", undefined, `The ledger refused: ${result}.`);
      return {
        object: "ledger_adjustment",
        journal: journalId,
        amount: args.amount,
        currency: args.currency,
        direction: args.direction,
      };
    },
  });

  deps.approvals.register({
    name: "refund.create",
    permission: "payment:refund",
    runs: "after_commit",
    execute: async (raw, meta) => {
      const args = raw as { merchant: string; mode: Mode; payment: string; amount: number; reason?: string };
      const input = {
        payment: args.payment,
        amount: args.amount,
        ...(args.reason ? { reason: args.reason } : {}),
      };
      // The approval's id is the refund's idempotency key: a retried execution refunds once.
      const response = await createRefund(
        deps.payments,
        { merchantId: args.merchant, mode: args.mode },
        input,
        {
          key: meta.idempotencyKey,
          requestHash: createHash("sha256").update(JSON.stringify(input)).digest("hex"),
        },
      );
      return JSON.parse(response.body) as unknown;
    },
  });

  deps.approvals.register({
    name: "staff.role_change",
    permission: "staff:manage",
    runs: "in_transaction",
    execute: async (tx, raw) => {
      const args = raw as { staff: string; role: string };
      const row = await deps.staff.changeRole(tx, args.staff, args.role);
      return { object: "staff", id: row.id, role: row.role };
    },
  });

  deps.approvals.register({
    name: "voucher_batch.approve",
    permission: "voucher:approve",
    // A finance member who creates batches may ask; only a holder of voucher:approve decides.
    requestPermission: "voucher:write",
    runs: "in_transaction",
    // The code key is read (and cached) before the transaction: the embedded engine has one connection.
    prepare: async () => {
      await deps.community.batches.codeKey();
    },
    execute: async (tx, raw, meta) => {
      const args = raw as { merchant: string; mode: Mode; batch: string };
      // Four eyes on the batch itself as well: whoever created it never approves it.
      await assertNotBatchCreator(tx, args.batch, meta.approver);
      const key = await deps.community.batches.codeKey();
      return deps.community.batches.approve(tx, args.batch, meta.approver.id, key, meta.nowMs);
    },
  });
}
