/**
 * Every environment variable Centime reads, with its default: the one list that `centime --help`
 * prints and the README repeats (a test checks both against the sources).
 */
export interface EnvironmentVariable {
  name: string;
  default?: string;
  description: string;
}

export const ENVIRONMENT: readonly EnvironmentVariable[] = [
  { name: "PORT", default: "8080", description: "Where the API listens" },
  { name: "HOST", default: "127.0.0.1", description: "The address the API binds" },
  {
    name: "DATABASE_URL",
    description: "A postgres:// URL; unset = the embedded database in CENTIME_DATA_DIR",
  },
  {
    name: "DATABASE_READ_URL",
    description:
      "A postgres:// URL of a streaming replica for reads that may lag (wire log and event lists); unset = the primary",
  },
  { name: "CENTIME_DATA_DIR", default: "./.centime", description: "Where the embedded database lives" },
  {
    name: "CENTIME_RETENTION_DAYS",
    default:
      "provider_interactions=400,events=30,webhook_attempts=30,webhook_deliveries=30,idempotency_keys=1",
    description:
      "Days each day-partitioned table keeps (table=days,…; 0 = forever); older days are dropped whole",
  },
  {
    name: "CENTIME_ARCHIVE_DIR",
    default: "<CENTIME_DATA_DIR>/archive",
    description: "Compressed daily archives of provider request and response bodies (shared by every worker)",
  },
  {
    name: "CENTIME_ARCHIVE_S3_ENDPOINT",
    description:
      "An S3-compatible store for those archives instead of the folder (base URL, path-style requests); unset = the folder",
  },
  {
    name: "CENTIME_ARCHIVE_S3_BUCKET",
    description: "The archive store's bucket (required with the endpoint)",
  },
  { name: "CENTIME_ARCHIVE_S3_PREFIX", description: "A folder in the bucket for the archives" },
  {
    name: "CENTIME_ARCHIVE_S3_REGION",
    default: "us-east-1",
    description: "The region requests are signed for",
  },
  {
    name: "CENTIME_ARCHIVE_S3_ACCESS_KEY_ID",
    description: "The archive store's access key id (required with the endpoint)",
  },
  {
    name: "CENTIME_ARCHIVE_S3_SECRET_ACCESS_KEY",
    description: "The archive store's secret key (required with the endpoint; never logged)",
  },
  { name: "CENTIME_ADMIN_KEY", description: "The admin key; generated and printed once when unset" },
  {
    name: "CENTIME_ADMIN_TLS_PORT",
    description:
      "The admin listener: the back office over mutual TLS, staff signed in by client certificate (centime certs); unset = off",
  },
  {
    name: "CENTIME_ADMIN_CA_DIR",
    default: "<CENTIME_DATA_DIR>/admin-ca",
    description:
      "The back office's certificate authority and the admin listener's certificate (centime certs init)",
  },
  {
    name: "CENTIME_TOTP_KEY",
    description:
      "32 bytes (base64 or hex) that encrypt staff TOTP secrets at rest (AES-256-GCM); every process must share it",
  },
  {
    name: "CENTIME_IP_COUNTRY_HEADER",
    description:
      "The header a trusted proxy sets to the client's country (e.g. cf-ipcountry): the risk attribute ip_country; unset = unknown",
  },
  { name: "LOG_LEVEL", default: "info", description: "pino log level" },
  { name: "CENTIME_API_KEY", description: "centime listen: the merchant's test secret key (or --api-key)" },
  { name: "CENTIME_RATE_LIMIT_PER_SECOND", default: "500", description: "Requests per API key; 0 disables" },
  { name: "CENTIME_RATE_LIMIT_BURST", default: "1000", description: "Burst per API key" },
  {
    name: "CENTIME_PAGE_RATE_LIMIT_PER_SECOND",
    default: "10",
    description: "Requests per client address on the public pages (checkout, /pay); 0 disables",
  },
  {
    name: "CENTIME_PAGE_RATE_LIMIT_BURST",
    default: "120",
    description: "Burst per client address on the public pages",
  },
  {
    name: "CENTIME_AUTH_FAILURES_PER_SECOND",
    default: "2",
    description: "Failed authentications allowed per client address (then 429)",
  },
  {
    name: "CENTIME_AUTH_FAILURES_BURST",
    default: "30",
    description: "Burst of failed authentications per address",
  },
  {
    name: "CENTIME_RISK_ENGINE",
    default: "on",
    description:
      "off: payments, subscriptions and redemptions skip the risk engine (only to measure its cost)",
  },
  {
    name: "CENTIME_AUDIT_LOG",
    default: "on",
    description: "off: writes are not recorded in the audit log (only to measure its cost)",
  },
  {
    name: "CENTIME_CHECKOUT_ENRICHMENT_PROXIES",
    description:
      "Addresses of trusted header-enrichment proxies whose MSISDN header checkout honours (off when unset)",
  },
  {
    name: "CENTIME_CHECKOUT_ENRICHMENT_MSISDN_HEADER",
    default: "x-msisdn",
    description: "The header carrying the payer's number from a trusted enrichment proxy",
  },
  {
    name: "CENTIME_CHECKOUT_ENRICHMENT_OPERATOR_HEADER",
    default: "x-mccmnc",
    description: "The header carrying the payer's operator (MCC+MNC) from a trusted enrichment proxy",
  },
  {
    name: "CENTIME_VOUCHER_KEY",
    description: "Keys the hashes of voucher codes; every process must share it",
  },
  {
    name: "CENTIME_NATS_URL",
    description: "A NATS server (nats://host:4222) whose JetStream receives every event; off when unset",
  },
  {
    name: "CENTIME_SMTP_URL",
    description:
      "E-mail to payers through this SMTP server (smtp://user:pass@host:587); unset = kept by the development catcher",
  },
  {
    name: "CENTIME_MAIL_FROM",
    default: "Centime <no-reply@centime.invalid>",
    description: "The From address of e-mail to payers",
  },
  {
    name: "CENTIME_SESSION_SECRET",
    description:
      "Signs page cookies; every API process of one installation must share it (unset: drawn at start)",
  },
  { name: "NODE_ENV", description: "development: page templates are re-read on every request" },
  {
    name: "CENTIME_PUBLIC_URL",
    description: "This API's address for callbacks and links (default http://HOST:PORT)",
  },
  {
    name: "CENTIME_WORKER_PORT",
    default: "9090",
    description: "--role worker: the port of its /health, /ready and /metrics (0 = any free port)",
  },
  {
    name: "CENTIME_DB_POOL_SIZE",
    default: "12",
    description: "PostgreSQL connections per process",
  },
  {
    name: "CENTIME_WRITE_CONCURRENCY",
    default: "4",
    description: "Group-commit transactions in flight at once",
  },
  {
    name: "CENTIME_DB_PREPARED_STATEMENTS",
    default: "on",
    description:
      "off sends every PostgreSQL statement unnamed, for a pooler in transaction mode that cannot follow named prepared statements (PgBouncer before 1.21)",
  },
  {
    name: "CENTIME_DB_CONNECT_TIMEOUT_MS",
    default: "5000",
    description: "How long opening a PostgreSQL connection may take",
  },
  {
    name: "CENTIME_DB_QUERY_TIMEOUT_MS",
    default: "10000",
    description: "How long one PostgreSQL query may take before it is abandoned",
  },
  {
    name: "CENTIME_REQUEST_DEADLINE_MS",
    default: "15000",
    description: "How long an API request may wait for the database before a 503",
  },
  {
    name: "CENTIME_CARRIER_NETWORK_URL",
    description: "The operators' network (HTTP); unset = an embedded simulator (test mode only)",
  },
  { name: "CENTIME_CARRIER_SMPP", description: "host:port of the operators' SMSC (with the URL above)" },
  {
    name: "CENTIME_CARRIER_SETTLEMENT_DIR",
    description: "Where the operators' settlement files are exchanged (with the URL above)",
  },
  {
    name: "CENTIME_CARRIER_PASSWORD",
    description: "The operators' API password (live carrier payments need it set)",
  },
  {
    name: "CENTIME_SMPP_PASSWORD",
    description: "The SMSC bind password (live carrier payments over SMPP need it set)",
  },
  {
    name: "CENTIME_CARD_PSP_URL",
    description: "The card PSP's API (live card payments need it with the secret below)",
  },
  {
    name: "CENTIME_CARD_PSP_SECRET",
    description: "The card PSP's signing secret; the sandbox value is refused in live mode",
  },
  {
    name: "CENTIME_LIVE_MODE",
    default: "auto",
    description: "on: refuse to start unless a live provider is configured; off: refuse live payments",
  },
  {
    name: "CENTIME_WEBHOOK_ALLOWED_HOSTS",
    description: "Comma-separated local hosts webhooks may reach (e.g. localhost,127.0.0.1)",
  },
  {
    name: "CENTIME_WEBHOOK_CONCURRENCY",
    default: "256",
    description: "Webhook requests in flight per worker",
  },
  {
    name: "CENTIME_SANDBOX_ASYNC_DELAY_MS",
    default: "1000",
    description: "How long the sandbox takes to settle pending_then_* payments",
  },
  {
    name: "CENTIME_RECONCILE_AFTER_MS",
    default: "2000",
    description: "When an unknown outcome is first checked with the provider",
  },
  {
    name: "CENTIME_RECONCILE_BACKOFF_MAX_MS",
    default: "300000",
    description: "The longest wait between two reconciliation checks of one payment",
  },
  {
    name: "CENTIME_RECONCILE_UNRESOLVED_AFTER_MS",
    default: "900000",
    description: "An attempt still unknown this long is flagged for a person (never failed)",
  },
];

/** The help text's environment section: one variable a line, aligned. */
export function environmentHelp(): string {
  const left = ENVIRONMENT.map((v) => (v.default ? `${v.name} (${v.default})` : v.name));
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return ENVIRONMENT.map((v, i) => `  ${left[i]!.padEnd(width)}${v.description}`).join("\n");
}
