import { newId } from "../platform/ids.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { Risk } from "./service.ts";

/**
 * Payer sign-ins (a code asked for, a code or a password tried) belong to no merchant: they are
 * evaluated in the platform's own scope, whose rules are the defaults (made on first use like a
 * merchant's; `default: PIN brute force` counts wrong codes per number and per address). Every
 * decision is stored in `risk_decisions` with `flow: "signin"`, and so is every refusal by the
 * payers' throttles (`rule: "throttle:<limit>"`), so an operator sees why a payer was turned away.
 */
export const SIGNIN_SCOPE: AuthScope = { merchantId: "platform", mode: "live" };

export interface SignInAttempt {
  ip: string;
  ipCountry?: string;
  msisdn?: string;
}

export class SignInRisk {
  constructor(private readonly risk: Risk) {}

  private subject(a: SignInAttempt) {
    return {
      flow: "signin" as const,
      ip: a.ip,
      ...(a.ipCountry ? { ipCountry: a.ipCountry } : {}),
      ...(a.msisdn ? { msisdn: a.msisdn } : {}),
    };
  }

  /** Evaluates an attempt before its code is sent or checked; its decisions are stored. */
  async assess(a: SignInAttempt, nowMs: number): Promise<{ blocked: boolean; rule: string | null }> {
    const verdict = await this.risk.assess(SIGNIN_SCOPE, this.subject(a), nowMs);
    await this.risk.record(verdict);
    return { blocked: verdict.action === "block", rule: verdict.rule?.name ?? null };
  }

  /** A wrong code: what the PIN brute-force counters count. */
  async failed(a: SignInAttempt, nowMs: number): Promise<void> {
    const subjects = await this.risk.subjectsOf(SIGNIN_SCOPE, {
      ip: a.ip,
      ...(a.msisdn ? { msisdn: a.msisdn } : {}),
    });
    await this.risk.observe(SIGNIN_SCOPE, "pin_failure", subjects, nowMs);
  }

  /** A throttle's refusal, stored like a rule's decision. */
  async throttled(a: SignInAttempt, limit: string, nowMs: number): Promise<void> {
    await this.risk.record({
      logged: [],
      rows: [
        {
          table: "risk_decisions",
          row: {
            id: newId("rd", nowMs),
            created: new Date(nowMs),
            merchant_id: SIGNIN_SCOPE.merchantId,
            mode: SIGNIN_SCOPE.mode,
            payment_id: null,
            flow: "signin",
            rule_id: `throttle:${limit}`,
            rule_name: `throttle: ${limit}`,
            rule: `throttle ${limit}`,
            action: "block",
            rule_mode: "enforce",
            decided: true,
            attribute_values: { ip: a.ip, ip_country: a.ipCountry ?? null, msisdn: a.msisdn ?? null },
          },
        },
      ],
    });
  }
}

/**
 * The payer's country as the trusted proxy in front of Centime tells it (no GeoIP database is
 * shipped): the header named by CENTIME_IP_COUNTRY_HEADER, e.g. `cf-ipcountry`. An absent,
 * malformed or "unknown" value (`XX`, Tor's `T1`) is unknown. Only set the variable when every
 * request passes through that proxy: a client could send the header itself otherwise.
 */
export function ipCountryFrom(
  headers: Record<string, string | string[] | undefined>,
  headerName: string | undefined,
): string | undefined {
  if (!headerName) return undefined;
  const raw = headers[headerName.toLowerCase()];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim().toUpperCase();
  if (!value || !/^[A-Z]{2}$/.test(value) || value === "XX" || value === "T1") return undefined;
  return value;
}
