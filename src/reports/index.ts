/**
 * Finance reports (issue 12 item 6, docs/reports.md): revenue with conversions into a reporting
 * currency, subscriptions, voucher liability and monthly statements from the ledger; the page
 * `/admin/reports`.
 */
export { convertMinor, divideHalfEven, minorFactor } from "./convert.ts";
export { toCsv } from "./csv.ts";
export { reportPages } from "./pages.ts";
export { REVENUE_GROUPS, type RevenueReport, revenueReport } from "./revenue.ts";
export { lineOf, monthlyStatement, type Statement } from "./statement.ts";
export { subscriptionsReport, voucherLiability } from "./subscriptions.ts";
