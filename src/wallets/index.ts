/** The public entry of wallets/: what other folders may use. */
export { merchantAccount } from "./accounts.ts";
export { WalletProvider } from "./provider.ts";
export { applyOrThrow, presentGrant, Wallets } from "./service.ts";
