/** The public entry of commissions/: what other folders may use. */
export { Commissions } from "./service.ts";
