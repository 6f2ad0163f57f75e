/** Merchants and their API keys: who calls, and with which rights. */
export * from "./keys.ts";
export {
  type ApiKeyRow,
  type AuthContext,
  type IssuedKey,
  type MerchantRow,
  Merchants,
  presentKey,
  presentMerchant,
} from "./service.ts";
