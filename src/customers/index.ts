/** Customers: who pays. */
export { type CustomerInput, Customers, presentCustomer } from "./service.ts";
