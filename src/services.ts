import { Approvals } from "./approvals/index.ts";
import { type Billing, createBilling } from "./billing/index.ts";
import { cancelSubscription } from "./billing/subscriptions.ts";
import { type Checkout, createCheckout } from "./checkout/index.ts";
import { GroupCommitter } from "./commit/group-commit.ts";
import { type Community, createCommunity } from "./community/index.ts";
import { configureConnectors } from "./connectors/operators/index.ts";
import { Customers } from "./customers/service.ts";
import type { Db } from "./db/db.ts";
import { IdempotencyGate } from "./idempotency/gate.ts";
import { Ledger } from "./ledger/ledger.ts";
import { Merchants } from "./merchants/service.ts";
import { catcherChannel, Notifier, operatorSmsChannel, smtpChannel } from "./notifications/index.ts";
import { createPayers, PayerLimits, type Payers } from "./payers/index.ts";
import type { PaymentsContext } from "./payments/context.ts";
import { S3ArchiveStore } from "./payments/index.ts";
import { InteractionArchive } from "./payments/interaction-archive.ts";
import { InteractionRecorder } from "./payments/interaction-log.ts";
import { type LiveProviders, liveProviders } from "./payments/live-mode.ts";
import { CardProvider } from "./payments/providers/card.ts";
import { CarrierProvider } from "./payments/providers/carrier.ts";
import { SandboxProvider } from "./payments/providers/sandbox.ts";
import { createRefund } from "./payments/refund.ts";
import { ProviderRegistry } from "./payments/registry.ts";
import { connectorEventHandler, type MoListener } from "./payments/remote-events.ts";
import { type Clock, systemClock } from "./platform/clock.ts";
import type { Config } from "./platform/config.ts";
import { LIMITS } from "./platform/limits.ts";
import { createLogger, type Logger } from "./platform/log.ts";
import { Metrics } from "./platform/metrics.ts";
import { Risk, SignInRisk } from "./risk/index.ts";
import { StaffDirectory } from "./staff/index.ts";

/** Everything the API and the workers share, wired once per process. */
export interface Services {
  config: Config;
  db: Db;
  /** Reads that may lag behind the primary (DATABASE_READ_URL); the primary itself when unset. */
  readDb: Db;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  ledger: Ledger;
  committer: GroupCommitter;
  merchants: Merchants;
  customers: Customers;
  idempotency: IdempotencyGate;
  payments: PaymentsContext;
  /** Every wire exchange with a remote provider. */
  recorder: InteractionRecorder;
  /** Who hears about MO messages (a subscriber texting STOP). */
  moListeners: Set<MoListener>;
  billing: Billing;
  checkout: Checkout;
  /** Back office: staff and their roles, four-eyes approvals. */
  staff: StaffDirectory;
  approvals: Approvals;
  /** Which providers may take live money, decided from the configuration at start. */
  live: LiveProviders;
  /** Inner currencies, wallets, memberships, vouchers and commissions (issue 11). */
  community: Community;
  /** Risk rules, lists, decisions and velocity counters (docs/risk.md). */
  risk: Risk;
  /** Messages to payers by SMS and e-mail; the development catcher (issue 14). */
  notifier: Notifier;
  /** Payer accounts, sessions, their own payments and subscriptions, refund requests (issue 14). */
  payers: Payers;
}

export function createServices(options: {
  config: Config;
  db: Db;
  /** A replica for lag-tolerant reads; unset = `db`. */
  readDb?: Db;
  clock?: Clock;
  logger?: Logger;
  metrics?: Metrics;
  /** Where this API can be reached from the outside, for providers' notifications. */
  publicUrl?: string;
}): Services {
  const { config, db } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = options.metrics ?? new Metrics();
  const ledger = new Ledger(db);
  const committer = new GroupCommitter(
    db,
    ledger,
    { batchSizeMax: LIMITS.group_commit_batch_size_max, concurrencyMax: db.writeConcurrencyMax },
    metrics,
  );
  const recorder = new InteractionRecorder(db, clock, logger, metrics);
  const archive = new InteractionArchive(
    config.archiveS3 ? new S3ArchiveStore(config.archiveS3) : config.archiveDir,
    logger,
  );
  const moListeners = new Set<MoListener>();
  const live = liveProviders(config.live);
  let payments: PaymentsContext | null = null;
  const onEvent = connectorEventHandler(() => payments!, logger, moListeners);
  // The one registry of payment providers, by payment-method type: payments and renewals alike.
  const providers = new ProviderRegistry()
    .register(new SandboxProvider(config.sandboxAsyncDelayMs))
    .register(new CarrierProvider(recorder, onEvent))
    .register(
      new CardProvider(recorder, onEvent, {
        ...(options.publicUrl ? { callbackUrl: `${options.publicUrl}/provider_callbacks` } : {}),
      }),
    )
    .allowLive(live);
  const risk = new Risk(db, clock);
  // The flows ask the risk engine unless it is switched off to measure what it costs.
  const riskGate = config.riskEngine === "off" ? undefined : risk;
  const community = createCommunity({
    db,
    ledger,
    clock,
    ...(riskGate ? { risk: riskGate } : {}),
    ...(config.voucherKey ? { voucherKey: config.voucherKey } : {}),
  });
  providers.register(community.walletProvider);
  payments = {
    ...(riskGate ? { risk: riskGate } : {}),
    payerLimits: new PayerLimits(db),
    extensions: community.paymentEffects,
    db,
    ledger,
    committer,
    clock,
    metrics,
    providers,
    recorder,
    archive,
    readDb: options.readDb ?? db,
    sandboxAsyncDelayMs: config.sandboxAsyncDelayMs,
    reconcileAfterMs: config.reconcileAfterMs,
  };
  const merchants = new Merchants(db, clock, config.adminKey);
  const billing = createBilling({
    db,
    ledger,
    clock,
    logger,
    providers,
    ...(riskGate ? { risk: riskGate } : {}),
  });
  const idempotency = new IdempotencyGate(db, clock);
  // SMS leave through the operators only on a real carrier network, e-mail through an SMTP server
  // when one is configured; otherwise both are caught (kept for GET /v1/test_helpers/messages).
  const notifier = new Notifier(
    db,
    {
      sms: config.carrierNetworkUrl ? operatorSmsChannel({ real: true }) : catcherChannel,
      email: config.smtpUrl ? smtpChannel({ url: config.smtpUrl, from: config.mailFrom }) : catcherChannel,
    },
    logger,
  );
  const payers = createPayers({
    db,
    clock,
    logger,
    notifier,
    gate: idempotency,
    secret: config.sessionSecret,
    portalUrl: `${(options.publicUrl ?? config.publicUrl ?? `http://${config.host}:${config.port}`).replace(/\/$/, "")}/portal`,
    refund: (scope, input, key) => createRefund(payments!, scope, input, key),
    cancelSubscription: (scope, id) =>
      cancelSubscription(billing.context, scope, id, "subscriber", undefined),
  });
  // Payer sign-ins and code requests go through the risk engine too (its platform scope).
  if (riskGate) payers.ctx.risk = new SignInRisk(risk);
  if (config.ipCountryHeader) payers.ctx.ipCountryHeader = config.ipCountryHeader;
  return {
    config,
    db,
    readDb: options.readDb ?? db,
    clock,
    logger,
    metrics,
    ledger,
    committer,
    merchants,
    customers: new Customers(db, clock),
    idempotency,
    payments,
    recorder,
    moListeners,
    billing,
    checkout: createCheckout({
      db,
      clock,
      logger,
      payments,
      authenticate: (authorization) => merchants.authenticate(authorization),
      publicUrl: options.publicUrl ?? config.publicUrl ?? `http://${config.host}:${config.port}`,
      formSecret: config.sessionSecret,
      ...(config.ipCountryHeader ? { settings: { ipCountryHeader: config.ipCountryHeader } } : {}),
      // The hosted page's card method asks the card provider what a token stands for.
      cardToken: async (token) => {
        const card = providers.get("card");
        return card instanceof CardProvider ? card.connector().lookupToken(token) : null;
      },
      // The hosted page's wallet and voucher methods (checkout does not import the community).
      wallets: {
        async balance(scope, customerId, currency, nowMs) {
          const wallet = (await community.wallets.list(scope, customerId, nowMs)).find(
            (w) => w.currency === currency,
          );
          return wallet ? BigInt(wallet.balance) : 0n;
        },
        async redeem(scope, code, customerId, ip, nowMs) {
          const answer = await community.redemptions.redeem(
            scope,
            { code, customer: customerId },
            ip,
            undefined,
            nowMs,
          );
          return (JSON.parse(answer.body) as { granted?: Record<string, unknown> }).granted ?? {};
        },
      },
    }),
    staff: new StaffDirectory(db, clock, config.totpKey),
    approvals: new Approvals(db, clock),
    live,
    community,
    risk,
    notifier,
    payers,
  };
}

/**
 * Points every remote provider at this API for its notifications and at the interaction log.
 * Called once the API listens (its address is known then).
 */
export function connectProviders(services: Services, publicUrl: string, callbackSecret: string): void {
  const callbackUrl = `${publicUrl.replace(/\/$/, "")}/provider_callbacks`;
  services.checkout.setPublicUrl(publicUrl);
  configureConnectors({ log: services.recorder, callback_url: callbackUrl, callback_secret: callbackSecret });
  const card = services.payments.providers.get("card");
  if (card instanceof CardProvider) card.setCallbackUrl(callbackUrl);
}
