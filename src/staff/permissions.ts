/**
 * The one catalogue of permissions (`group:action`) and the routes each guards. Roles are sets of
 * these; restricted keys carry a subset. The permission tests are generated from this file.
 */
export const PERMISSIONS = {
  "payment:read": "See payments, refunds and their timelines.",
  "payment:write": "Create, capture, cancel and confirm payments.",
  "payment:refund": "Refund payments.",
  "customer:read": "See customers.",
  "customer:write": "Create and change customers.",
  "catalog:read": "See products and prices.",
  "catalog:write": "Create and change products and prices.",
  "subscription:read": "See subscriptions, dunning policies and test clocks.",
  "subscription:write": "Start, cancel and pause subscriptions; dunning policies; test clocks.",
  "webhook:read": "See webhook endpoints, events and deliveries.",
  "webhook:write": "Manage webhook endpoints and redeliver events.",
  "operator:read": "See operators, their health and provider interactions.",
  "ledger:read": "See the balance and the ledger.",
  "ledger:adjust": "Make manual ledger adjustments (four-eyes).",
  "api_key:read": "See API keys.",
  "api_key:write": "Create, roll and revoke API keys.",
  "staff:read": "See staff and roles.",
  "staff:manage": "Invite staff, change roles (four-eyes), define custom roles.",
  "audit:read": "Read the audit log.",
  "audit:verify": "Verify the whole platform's audit chain and export checkpoints (platform staff only).",
  "approval:read": "See approvals.",
  "voucher:read": "See voucher batches.",
  "voucher:write": "Create, activate and void voucher batches.",
  "voucher:approve": "Approve voucher batches (four-eyes).",
  "wallet:read": "See wallets, currencies and exchange rates.",
  "wallet:write": "Grant wallet credit; currencies and exchange rates.",
  "commission:read": "See commission plans and commissions.",
  "commission:payout": "Approve commission payouts (four-eyes).",
  "checkout:read": "See apps, checkout sessions and payment links.",
  "checkout:write": "Manage apps, checkout sessions and payment links.",
  "analytics:read": "See statistics, reports and the dashboard.",
  "merchant:manage": "Create and see merchants (platform staff only).",
  "risk:read": "See risk rules, lists, decisions and payments held for review.",
  "risk:write": "Write risk rules and lists; approve or refuse payments held for review.",
  "risk:platform":
    "See and change the platform's own risk rules, lists and sign-in decisions (platform staff only).",
} as const;

export type Permission = keyof typeof PERMISSIONS;
export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];
/** Only the platform's own staff (and the owner) may hold these. */
export const PLATFORM_PERMISSIONS: ReadonlySet<Permission> = new Set([
  "merchant:manage",
  "audit:verify",
  "risk:platform",
]);

export function isPermission(name: string): name is Permission {
  return Object.hasOwn(PERMISSIONS, name);
}

/** The first path segment under /v1 names the group whose `read` or `write` a route needs. */
const GROUP_OF_RESOURCE: Record<string, string> = {
  payments: "payment",
  refunds: "payment",
  refund_requests: "payment",
  refund_request_policy: "payment",
  customers: "customer",
  products: "catalog",
  prices: "catalog",
  subscriptions: "subscription",
  dunning_policies: "subscription",
  test_clocks: "subscription",
  mo_messages: "subscription",
  webhook_endpoints: "webhook",
  events: "webhook",
  operators: "operator",
  provider_interactions: "operator",
  balance: "ledger",
  ledger: "ledger",
  api_keys: "api_key",
  staff: "staff",
  roles: "staff",
  permissions: "staff",
  audit_events: "audit",
  approvals: "approval",
  voucher_batches: "voucher",
  voucher_redemptions: "voucher",
  wallet_grants: "wallet",
  currencies: "wallet",
  exchange_rates: "wallet",
  commission_plans: "commission",
  commissions: "commission",
  apps: "checkout",
  checkout_sessions: "checkout",
  payment_links: "checkout",
  checkout_receipts: "checkout",
  reports: "analytics",
  analytics: "analytics",
  merchants: "merchant",
  risk_rules: "risk",
  risk_list_entries: "risk",
  risk_decisions: "risk",
  risk_reviews: "risk",
};

/** Routes whose permission is not the group's plain read or write. */
const SPECIAL_ROUTES: Record<string, Permission> = {
  "POST /v1/refunds": "payment:refund",
  "POST /v1/refund_requests/:id/approve": "payment:refund",
  "POST /v1/refund_request_policy": "payment:refund",
  // The development catcher holds payers' codes: read with the checkout's messages (receipts).
  "GET /v1/test_helpers/messages": "checkout:read",
  "POST /v1/ledger/adjustments": "ledger:adjust",
  // Asking is enough to reach the route: a staff member without voucher:approve gets an approval
  // request (202) that an owner decides; the admin key and owners approve at once.
  "POST /v1/voucher_batches/:id/approve": "voucher:write",
  // Signing keys of every merchant's payment links: the platform's.
  "POST /v1/payment_link_keys/rotate": "merchant:manage",
  // A commission plan decides money paid out later; a payout moves it.
  "POST /v1/commission_plans": "commission:payout",
  "POST /v1/commission_payouts": "commission:payout",
  "GET /v1/customers/:id/wallets": "wallet:read",
  "GET /v1/customers/:id/entitlements": "wallet:read",
  "POST /v1/staff": "staff:manage",
  "POST /v1/staff/:id": "staff:manage",
  "POST /v1/staff/:id/role": "staff:manage",
  "POST /v1/roles": "staff:manage",
  "GET /v1/merchants/:id": "merchant:manage",
  "POST /v1/merchants": "merchant:manage",
  "POST /v1/merchants/:id/refund_approval_thresholds": "merchant:manage",
  // Recomputing every merchant's rollups: the platform's.
  "POST /v1/analytics/rebuild": "merchant:manage",
  // The rates of every merchant's reporting totals: the platform's.
  "POST /v1/analytics/exchange_rates": "merchant:manage",
  "GET /v1/audit_events/verify": "audit:verify",
  "GET /v1/audit_events/checkpoint": "audit:verify",
  // The platform's own risk rules and lists (payer sign-ins): the platform's staff.
  "GET /v1/platform/risk_rules": "risk:platform",
  "POST /v1/platform/risk_rules": "risk:platform",
  "GET /v1/platform/risk_rules/:id": "risk:platform",
  "DELETE /v1/platform/risk_rules/:id": "risk:platform",
  "POST /v1/platform/risk_rules/:id": "risk:platform",
  "GET /v1/platform/risk_list_entries": "risk:platform",
  "POST /v1/platform/risk_list_entries": "risk:platform",
  "DELETE /v1/platform/risk_list_entries/:id": "risk:platform",
  "GET /v1/platform/risk_decisions": "risk:platform",
  // Deciding an approval needs the permission of the action approved, checked by the approval.
  "POST /v1/approvals/:id/approve": "approval:read",
  "POST /v1/approvals/:id/reject": "approval:read",
};

/**
 * The permission a route needs, or null for a route outside the catalogue (only credentials with
 * every permission may call those: unknown routes are closed by default).
 */
export function permissionForRoute(method: string, route: string): Permission | null {
  const special = SPECIAL_ROUTES[`${method} ${route}`];
  if (special) return special;
  const resource = route.replace(/^\/v1\//, "").split("/")[0] ?? "";
  const group = GROUP_OF_RESOURCE[resource];
  if (!group) return null;
  const verb = method === "GET" || method === "HEAD" ? "read" : "write";
  const name = `${group}:${verb}`;
  if (isPermission(name)) return name;
  // Groups without a plain `write` (ledger, audit, staff…): their writes are special routes above.
  return group === "staff" ? "staff:manage" : null;
}

const READS = ALL_PERMISSIONS.filter((p) => p.endsWith(":read"));

/** The default roles. A merchant's team never holds platform permissions. */
export const DEFAULT_ROLES: Record<string, readonly Permission[]> = {
  owner: ALL_PERMISSIONS,
  administrator: ALL_PERMISSIONS.filter(
    (p) => !["ledger:adjust", "voucher:approve", "commission:payout"].includes(p),
  ),
  finance: [
    ...READS,
    "payment:refund",
    "ledger:adjust",
    "voucher:write",
    "commission:payout",
    "wallet:write",
  ],
  support: [
    "payment:read",
    "payment:refund",
    "customer:read",
    "customer:write",
    "subscription:read",
    "subscription:write",
    "webhook:read",
    "webhook:write",
    "catalog:read",
    "voucher:read",
    "wallet:read",
    "checkout:read",
    "operator:read",
    "approval:read",
  ],
  developer: [
    "payment:read",
    "payment:write",
    "customer:read",
    "customer:write",
    "catalog:read",
    "catalog:write",
    "subscription:read",
    "webhook:read",
    "webhook:write",
    "operator:read",
    "api_key:read",
    "api_key:write",
    "checkout:read",
    "checkout:write",
    "analytics:read",
    "approval:read",
  ],
  viewer: READS.filter((p) => p !== "audit:read" && p !== "staff:read"),
  // (finance reads the audit log; only the platform verifies the whole chain)
};

export const DEFAULT_ROLE_NAMES = Object.keys(DEFAULT_ROLES);

/** A role's permissions for a member of the platform (merchant null) or of a merchant's team. */
export function scopedPermissions(
  permissions: readonly string[],
  merchantId: string | null,
): Set<Permission> {
  return new Set(
    permissions.filter(
      (p): p is Permission => isPermission(p) && (merchantId === null || !PLATFORM_PERMISSIONS.has(p)),
    ),
  );
}
