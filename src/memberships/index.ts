/** The public entry of memberships/: what other folders may use. */
export { Memberships } from "./service.ts";
