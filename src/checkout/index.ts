/**
 * Checkout: apps, checkout sessions, signed payment links, the hosted payment page and the
 * embeddable form, the payer journey's steps, delivery after payment and receipts.
 * See docs/checkout.md. The one public entry of src/checkout/.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { cardPspUrl } from "../connectors/index.ts";
import type { Db } from "../db/db.ts";
import { allowedHostsFromEnv } from "../events/index.ts";
import type { Job } from "../jobs/index.ts";
import type { AuthContext } from "../merchants/index.ts";
import type { PaymentsContext } from "../payments/index.ts";
import type { Clock } from "../platform/clock.ts";
import { DAY_MS, HOUR_MS } from "../platform/clock.ts";
import { environment } from "../platform/config.ts";
import type { Logger } from "../platform/log.ts";
import { registerAsset } from "../web/index.ts";
import type { CardTokenInfo, CheckoutContext, CheckoutSettings, WalletAccess } from "./context.ts";
import { defaultFulfilmentSender, deliverDueFulfilments, type FulfilmentSender } from "./fulfilment.ts";
import { sweepSessions } from "./jobs.ts";
import { LinkKeyStore } from "./link-keys.ts";
import { cardMethod } from "./methods/card.ts";
import { carrierMethod } from "./methods/carrier.ts";
import { availableMethodTypes, registerMethod } from "./methods/registry.ts";
import { voucherMethod } from "./methods/voucher.ts";
import { walletMethod } from "./methods/wallet.ts";
import { checkoutPages } from "./pages.ts";
import { outboxSender, type ReceiptSender, sendQueuedReceipts } from "./receipts.ts";
import { ensureStepPartitions } from "./steps.ts";

export type { CheckoutContext, CheckoutSettings, WalletAccess } from "./context.ts";
export { deliverDueFulfilments, type FulfilmentSender } from "./fulfilment.ts";
export { sweepSessions } from "./jobs.ts";
export { signLinkPath, verifyLink } from "./link-signing.ts";
export type { ReceiptSender } from "./receipts.ts";
export { checkoutRoutes, checkoutSessionCreateRoutes, linkKeyRoutes } from "./routes.ts";

registerMethod(carrierMethod);
registerMethod(cardMethod);
registerMethod(walletMethod);
registerMethod(voucherMethod);

const here = dirname(fileURLToPath(import.meta.url));
registerAsset("checkout.css", join(here, "assets", "checkout.css"));
registerAsset("checkout.js", join(here, "assets", "checkout.js"));
const EMBED_SCRIPT = readFileSync(join(here, "assets", "centime.js"));

export { CHECKOUT_CATALOGUES } from "./messages.ts";

function listFrom(value: string | undefined): Set<string> {
  return new Set(
    (value ?? "")
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v.length > 0),
  );
}

/** CENTIME_CHECKOUT_* and friends (docs/checkout.md). */
export function checkoutSettingsFromEnv(
  env: Readonly<Record<string, string | undefined>> = environment(),
): Omit<CheckoutSettings, "cardFormUrl"> {
  const days = (name: string, fallback: number) => {
    const n = Number(env[name] ?? fallback);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number of days`);
    return n * DAY_MS;
  };
  return {
    enrichment: {
      msisdnHeader: (env.CENTIME_CHECKOUT_ENRICHMENT_MSISDN_HEADER || "x-msisdn").toLowerCase(),
      operatorHeader: (env.CENTIME_CHECKOUT_ENRICHMENT_OPERATOR_HEADER || "x-mccmnc").toLowerCase(),
      proxies: listFrom(env.CENTIME_CHECKOUT_ENRICHMENT_PROXIES),
    },
    consentValidityMs: days("CENTIME_CHECKOUT_CONSENT_DAYS", 90),
    linkKeyOverlapMs: days("CENTIME_LINK_KEY_OVERLAP_DAYS", 7),
    allowedHosts: allowedHostsFromEnv(),
  };
}

export interface Checkout {
  ctx: CheckoutContext;
  /** The hosted pages, inside a page surface. */
  pages: (pages: FastifyInstance) => Promise<void>;
  /** `/js/centime.js`, the embeddable form's script (no page surface: it is a script). */
  embedScript: (app: FastifyInstance) => Promise<void>;
  jobs(): Job[];
  setPublicUrl(url: string): void;
}

export function createCheckout(options: {
  db: Db;
  clock: Clock;
  logger: Logger;
  payments: PaymentsContext;
  authenticate(authorization: string): Promise<AuthContext>;
  publicUrl: string;
  /** Signs the checkout forms' tokens (CENTIME_SESSION_SECRET). */
  formSecret: string;
  settings?: Partial<CheckoutSettings>;
  receipts?: ReceiptSender;
  fulfilmentSender?: FulfilmentSender;
  wallets?: WalletAccess;
  cardToken?: (token: string) => Promise<CardTokenInfo | null>;
}): Checkout {
  let publicUrl = options.publicUrl.replace(/\/$/, "");
  const settings: CheckoutSettings = {
    ...checkoutSettingsFromEnv(),
    // The card PSP's tokenization form: the simulator's unless CENTIME_CARD_PSP_URL names another.
    cardFormUrl: () => `${cardPspUrl()}/cardpsp/tokenize`,
    ...options.settings,
  };
  const ctx: CheckoutContext = {
    db: options.db,
    clock: options.clock,
    logger: options.logger,
    payments: options.payments,
    keys: new LinkKeyStore(options.db, options.clock),
    receipts: options.receipts ?? outboxSender,
    settings,
    authenticate: options.authenticate,
    availableMethods: availableMethodTypes,
    ...(options.wallets ? { wallets: options.wallets } : {}),
    ...(options.cardToken ? { cardToken: options.cardToken } : {}),
    publicUrl: () => publicUrl,
  };
  const send = options.fulfilmentSender ?? defaultFulfilmentSender(settings.allowedHosts);
  return {
    ctx,
    pages: checkoutPages(ctx, options.formSecret),
    embedScript: async (app) => {
      app.get("/js/centime.js", { schema: { hide: true } }, async (_request, reply) =>
        reply
          .header("cache-control", "public, max-age=300")
          .header("cross-origin-resource-policy", "cross-origin")
          .header("x-content-type-options", "nosniff")
          .type("text/javascript; charset=utf-8")
          .send(EMBED_SCRIPT),
      );
      app.addHook("onReady", async () => {
        await ctx.keys.refresh();
      });
    },
    jobs: () => [
      { name: "checkout_sessions", intervalMs: 1_000, busyThreshold: 100, run: () => sweepSessions(ctx) },
      {
        name: "checkout_fulfilments",
        intervalMs: 1_000,
        busyThreshold: 32,
        run: () => deliverDueFulfilments(ctx, send),
      },
      { name: "checkout_receipts", intervalMs: 5_000, run: () => sendQueuedReceipts(ctx.db, ctx.receipts) },
      {
        name: "checkout_step_partitions",
        intervalMs: HOUR_MS,
        run: () => ensureStepPartitions(ctx.db, ctx.clock.nowMs()),
      },
    ],
    setPublicUrl(url) {
      publicUrl = url.replace(/\/$/, "");
    },
  };
}
