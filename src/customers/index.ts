/** Customers: who pays. */
export { formatAddress, type PostalAddress } from "./address.ts";
export { type CustomerInput, Customers, type CustomerUpdate, presentCustomer } from "./service.ts";
