/** The two accounts a sandbox payment moves money between, for ledger-level tests. */
import type { Account, Ledger } from "../../src/ledger/index.ts";

/** A merchant's EUR test-mode clearing account (the provider's side) and available balance. */
export async function clearingAndAvailable(
  ledger: Ledger,
  merchantId: string,
  nowMs = Date.now(),
): Promise<{ clearing: Account; available: Account }> {
  const common = { merchantId, mode: "test" as const, currency: "EUR" };
  const [clearing, available] = await ledger.ensureAccounts(
    [
      { ...common, ownerId: "provider", purpose: "clearing" },
      { ...common, ownerId: merchantId, purpose: "available" },
    ],
    nowMs,
  );
  return { clearing: clearing!, available: available! };
}
