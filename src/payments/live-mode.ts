import type { LiveSettings } from "../platform/config.ts";
import { ApiError } from "../platform/errors.ts";

/**
 * Live mode never fakes money: a live payment reaches only a provider configured with a real
 * endpoint and real credentials. The sandbox and the carrier network simulator answer test mode
 * only. Decided once at start from the configuration; pure.
 */
export type LiveProviderName = "carrier" | "card" | "sandbox";

export type LiveReadiness = { ready: true; endpoint: string } | { ready: false; missing: string };

export interface LiveProviders {
  readonly carrier: LiveReadiness;
  readonly card: LiveReadiness;
  readonly sandbox: LiveReadiness;
  /** Secrets left at a default or example value while the provider points at a real endpoint. */
  readonly unsafeSecrets: readonly string[];
}

/** Values shipped as defaults or shown in examples: never credentials of a live provider. */
const EXAMPLE_SECRETS = new Set([
  "sandbox",
  "whsec_sandbox",
  "secret",
  "changeme",
  "change-me",
  "example",
  "password",
  "test",
  "xxx",
]);

export function isExampleSecret(value: string | undefined): boolean {
  if (value === undefined || value.trim() === "") return true;
  const v = value.trim().toLowerCase();
  return EXAMPLE_SECRETS.has(v) || v.includes("example") || v.includes("sandbox") || v.length < 12;
}

export function liveProviders(settings: LiveSettings): LiveProviders {
  const unsafeSecrets: string[] = [];
  const off =
    settings.mode === "off" ? "live mode is switched off on this server (CENTIME_LIVE_MODE=off)" : null;

  let carrier: LiveReadiness;
  if (off) carrier = { ready: false, missing: off };
  else if (!settings.carrierNetworkUrl)
    carrier = {
      ready: false,
      missing:
        "no carrier network is configured (CENTIME_CARRIER_NETWORK_URL is unset, so the embedded simulator answers, in test mode only)",
    };
  else if (isExampleSecret(settings.carrierPassword))
    carrier = {
      ready: false,
      missing:
        "the operators' credentials are not set (CENTIME_CARRIER_PASSWORD is unset or an example value)",
    };
  else carrier = { ready: true, endpoint: settings.carrierNetworkUrl };
  if (carrier.ready && settings.smppPassword !== undefined && isExampleSecret(settings.smppPassword))
    unsafeSecrets.push("CENTIME_SMPP_PASSWORD");

  let card: LiveReadiness;
  if (off) card = { ready: false, missing: off };
  else if (!settings.cardPspUrl)
    card = {
      ready: false,
      missing: "no card provider is configured (CENTIME_CARD_PSP_URL and CENTIME_CARD_PSP_SECRET are unset)",
    };
  else if (isExampleSecret(settings.cardPspSecret)) {
    // A real endpoint with the sandbox's secret: a configuration mistake, refused at start.
    unsafeSecrets.push("CENTIME_CARD_PSP_SECRET");
    card = {
      ready: false,
      missing: "the card provider's secret is unset or an example value (CENTIME_CARD_PSP_SECRET)",
    };
  } else card = { ready: true, endpoint: settings.cardPspUrl };

  const sandbox: LiveReadiness = {
    ready: false,
    missing: "the sandbox payment method is only available in test mode",
  };
  return { carrier, card, sandbox, unsafeSecrets };
}

/**
 * Why this server must not start, or null. `CENTIME_LIVE_MODE=on` asks for a live-capable server:
 * at least one live provider ready and no default secret anywhere; in `auto`, a provider pointed
 * at a real endpoint with a default secret is refused too.
 */
export function liveStartProblem(settings: LiveSettings, providers: LiveProviders): string | null {
  if (providers.unsafeSecrets.length > 0) {
    return `refusing to start: ${providers.unsafeSecrets.join(", ")} is unset or a default/example value while its provider points at a real endpoint; set the provider's real secret`;
  }
  if (settings.mode === "on" && !providers.carrier.ready && !providers.card.ready) {
    return `refusing to start with CENTIME_LIVE_MODE=on: no live provider is ready (carrier: ${missingOf(providers.carrier)}; card: ${missingOf(providers.card)})`;
  }
  return null;
}

function missingOf(r: LiveReadiness): string {
  return r.ready ? "ready" : r.missing;
}

/** One line per provider for the start banner. */
export function describeLiveProviders(providers: LiveProviders): string {
  const line = (name: string, r: LiveReadiness) =>
    `  ${name}: ${r.ready ? `ready (${r.endpoint})` : `refused: ${r.missing}`}`;
  return ["Live payments:", line("carrier", providers.carrier), line("card", providers.card)].join("\n");
}

/** Throws the 4xx that names what is missing when a live payment cannot reach a real provider. */
export function assertLiveProvider(providers: LiveProviders | undefined, provider: string): void {
  const readiness = providers?.[provider as LiveProviderName] ?? {
    ready: false as const,
    missing: `no live ${provider} provider is configured`,
  };
  if (readiness.ready) return;
  throw new ApiError(
    "live_mode_unavailable",
    "payment_method.type",
    `Live ${provider} payments are not available: ${readiness.missing}. Use a test key (sk_test_…) with the simulator, or ask the platform's operator to configure the live provider.`,
  );
}
