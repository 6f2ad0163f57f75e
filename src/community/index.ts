import type { FastifyInstance } from "fastify";
import type { Approvals } from "../approvals/index.ts";
import { Commissions } from "../commissions/index.ts";
import { commissionRoutes } from "../commissions/routes.ts";
import { Currencies, CurrencyReports } from "../currencies/index.ts";
import { currencyRoutes } from "../currencies/routes.ts";
import type { Db } from "../db/db.ts";
import type { Job } from "../jobs/index.ts";
import type { Ledger } from "../ledger/index.ts";
import { Memberships } from "../memberships/index.ts";
import { membershipRoutes } from "../memberships/routes.ts";
import type { Clock } from "../platform/clock.ts";
import type { RiskGate } from "../risk/index.ts";
import { Redemptions, VoucherBatches } from "../vouchers/index.ts";
import { voucherRoutes } from "../vouchers/routes.ts";
import { WalletProvider, Wallets } from "../wallets/index.ts";
import { walletRoutes } from "../wallets/routes.ts";
import { CommunityPaymentEffects } from "./payment-effects.ts";
import type { RouteContext } from "./routing.ts";

export type { RouteContext } from "./routing.ts";

/**
 * The community back office (issue 11), wired once per process: inner currencies, wallets,
 * memberships, scratch cards and affiliate commissions, the wallet payment provider, the payment
 * extensions that tie them to payments, their background jobs and their routes.
 */
export interface Community {
  currencies: Currencies;
  reports: CurrencyReports;
  wallets: Wallets;
  memberships: Memberships;
  commissions: Commissions;
  batches: VoucherBatches;
  redemptions: Redemptions;
  walletProvider: WalletProvider;
  paymentEffects: CommunityPaymentEffects;
}

export function createCommunity(options: {
  db: Db;
  ledger: Ledger;
  clock: Clock;
  voucherKey?: string;
  /** The risk engine: asked before a voucher is redeemed, told of every wrong code. */
  risk?: RiskGate;
}): Community {
  const { db, ledger, clock } = options;
  const currencies = new Currencies(db, clock);
  const wallets = new Wallets(db, ledger);
  const memberships = new Memberships(db);
  const commissions = new Commissions(db, ledger);
  const batches = new VoucherBatches(db, ledger, currencies, options.voucherKey);
  return {
    currencies,
    reports: new CurrencyReports(db, clock, currencies),
    wallets,
    memberships,
    commissions,
    batches,
    redemptions: new Redemptions(db, ledger, batches, wallets, memberships, options.risk),
    walletProvider: new WalletProvider(),
    paymentEffects: new CommunityPaymentEffects(db, ledger, currencies, wallets, memberships, commissions),
  };
}

/** The worker's loops: expired grants, due commissions, breakage, unfinished redemptions. */
export function communityJobs(community: Community, clock: Clock): Job[] {
  return [
    {
      name: "wallet_grant_expiry",
      intervalMs: 5_000,
      busyThreshold: 100,
      run: () => community.wallets.expireDue(clock.nowMs()),
    },
    {
      name: "commission_approval",
      intervalMs: 10_000,
      busyThreshold: 500,
      run: () => community.commissions.approveDue(clock.nowMs()),
    },
    {
      name: "voucher_breakage",
      intervalMs: 60_000,
      run: () => community.batches.recognizeBreakage(clock.nowMs()),
    },
    {
      name: "voucher_redemptions",
      intervalMs: 10_000,
      run: async () =>
        (await community.redemptions.completePending(clock.nowMs())) +
        (await community.redemptions.pruneFailures(clock.nowMs())),
    },
  ];
}

/** Every community route, as one plugin for the `/v1` scope. */
export function communityRoutes(
  ctx: RouteContext,
  community: Community,
  db: Db,
  clock: Clock,
  approvals?: Approvals,
) {
  return async (app: FastifyInstance) => {
    await app.register(currencyRoutes(ctx, community.currencies, community.reports));
    await app.register(walletRoutes(ctx, community.wallets, community.currencies, clock));
    await app.register(membershipRoutes(ctx, community.memberships, clock));
    await app.register(voucherRoutes(ctx, community.batches, community.redemptions, db, clock));
    await app.register(
      commissionRoutes(ctx, community.commissions, community.wallets, community.currencies, clock, approvals),
    );
  };
}
