import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { DAY_MS } from "./clock.ts";
import { LIMITS } from "./limits.ts";
/** Configuration from the environment, read once at start. */
export interface Config {
  host: string;
  port: number;
  databaseUrl?: string;
  /** A streaming replica for reads that may lag (lists of the wire log and of events); unset = the primary. */
  databaseReadUrl?: string;
  dataDir: string;
  /** Where the compressed daily archives of provider interaction bodies go (default: <dataDir>/archive). */
  archiveDir: string;
  /** An S3-compatible store for those archives instead of archiveDir (CENTIME_ARCHIVE_S3_*). */
  archiveS3?: {
    /** The service's base URL, e.g. `https://s3.eu-west-3.amazonaws.com` or `http://127.0.0.1:9000`. */
    endpoint: string;
    bucket: string;
    /** Prepended to every object key (a folder in a shared bucket), ending in "/"; "" for none. */
    prefix: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
  };
  adminKey?: string;
  /** Key of the scratch-card code hashes (CENTIME_VOUCHER_KEY); generated and kept in the database when unset. */
  voucherKey?: string;
  /** NATS server whose JetStream receives every event (CENTIME_NATS_URL); unset = no publishing. */
  natsUrl?: string;
  logLevel: string;
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  /** Requests per client address on the public pages (checkout, payment links): sustained, and at once. */
  pageRateLimitPerSecond: number;
  pageRateLimitBurst: number;
  /** off: payments, subscriptions and redemptions skip the risk engine (only to measure its cost). */
  riskEngine: "on" | "off";
  /** The trusted proxy's header carrying the client's country (risk attribute ip_country). */
  ipCountryHeader?: string;
  /** Failed authentications per client address: sustained per second, and at once. */
  authFailuresPerSecond: number;
  authFailuresBurst: number;
  /** How long the sandbox takes to settle `pending_then_*` payments. */
  sandboxAsyncDelayMs: number;
  /** When an unknown outcome is first checked with the provider. */
  reconcileAfterMs: number;
  /** PostgreSQL connections per process, and how many of them group commit may use at once. */
  dbPoolSize: number;
  writeConcurrency: number;
  /**
   * Named prepared statements (CENTIME_DB_PREPARED_STATEMENTS, on by default); off sends every
   * statement unnamed, for a pooler in transaction mode that cannot follow them (PgBouncer before
   * 1.21, or with `max_prepared_statements = 0`).
   */
  dbPreparedStatements: boolean;
  /**
   * Where the operators' network is (HTTP base URL; SMPP host:port). Unset, an embedded carrier
   * network simulator is started, so carrier and card payments work with no set-up.
   */
  carrierNetworkUrl?: string;
  carrierSmpp?: { host: string; port: number };
  /** The API's address as providers should call it back, when it differs from HOST:PORT. */
  publicUrl?: string;
  /** Webhook requests in flight at once per worker process. */
  webhookConcurrency: number;
  /** `--role worker`: the port of its /health, /ready and /metrics (0: any free port). */
  workerPort: number;
  /** PostgreSQL: opening a connection, one query, and all the database work of one API request. */
  dbConnectTimeoutMs: number;
  dbQueryTimeoutMs: number;
  requestDeadlineMs: number;
  /** Reconciliation: the longest wait between two checks, and when an unknown attempt needs a person. */
  reconcileBackoffMaxMs: number;
  reconcileUnresolvedAfterMs: number;
  /** Where live money goes: see src/payments/live-mode.ts. */
  live: LiveSettings;
  /**
   * Signs page cookies (CSRF secrets, page sessions). Every API process of one installation must
   * share it; unset, each process draws its own at start (fine for one process).
   */
  sessionSecret: string;
  /** E-mail to payers through this SMTP server (smtp:// or smtps:// URL); unset = caught in development. */
  smtpUrl?: string;
  /** The From address of e-mail to payers. */
  mailFrom: string;
  /** Days each partitioned table keeps (CENTIME_RETENTION_DAYS over DEFAULT_RETENTION_DAYS); 0 keeps forever. */
  retentionDays: Record<string, number>;
  /** The admin listener's port (mutual TLS, client certificates); unset = no admin listener. */
  adminTlsPort?: number;
  /** The back office's certificate authority (`centime certs init`): default <dataDir>/admin-ca. */
  adminCaDir: string;
  /** Key (32 bytes, base64 or hex) that encrypts staff TOTP secrets at rest; unset = kept in the database. */
  totpKey?: string;
}

/**
 * Retention per partitioned table, in days; 0 keeps forever. Defaults: the wire log's metadata
 * 400 days (disputes and carrier reconciliations reach back a year), events, webhook deliveries and
 * webhook attempts for the 30-day replay window; idempotency keys 1 day (a day partition goes once
 * its whole day is a day old, so every key in it has had its 24 hours); the analytics feed as long
 * as the events it points to (a rebuild of the rollups reads it back 30 days; a day not yet counted
 * by the rollups stays, src/db/partitions.ts).
 */
export const DEFAULT_RETENTION_DAYS: Readonly<Record<string, number>> = {
  provider_interactions: 400,
  events: 30,
  analytics_feed: 30,
  webhook_attempts: 30,
  webhook_deliveries: 30,
  idempotency_keys: 1,
};

/** CENTIME_RETENTION_DAYS: `table=days,…` over the defaults; 0 keeps forever. */
export function parseRetention(value: string | undefined): Record<string, number> {
  const out: Record<string, number> = { ...DEFAULT_RETENTION_DAYS };
  if (!value) return out;
  for (const part of value.split(",")) {
    const [name, days] = part.split("=").map((s) => s.trim());
    if (!name || days === undefined || !/^\d+$/.test(days) || !(name in DEFAULT_RETENTION_DAYS)) {
      throw new Error(
        `CENTIME_RETENTION_DAYS must be table=days pairs over ${Object.keys(DEFAULT_RETENTION_DAYS).join(", ")}; got '${part}'`,
      );
    }
    out[name] = Number(days);
  }
  const keyDays = Math.ceil(LIMITS.idempotency_retention_ms / DAY_MS);
  if (out.idempotency_keys !== 0 && (out.idempotency_keys ?? keyDays) < keyDays) {
    throw new Error(
      `CENTIME_RETENTION_DAYS: idempotency_keys must keep at least ${keyDays} day(s) (their retention), or 0`,
    );
  }
  return out;
}

export type LiveModeSwitch = "auto" | "on" | "off";

/** What decides whether live payments may reach a provider (read once, checked at start). */
export interface LiveSettings {
  mode: LiveModeSwitch;
  carrierNetworkUrl?: string;
  carrierPassword?: string;
  smppPassword?: string;
  cardPspUrl?: string;
  cardPspSecret?: string;
}

function intFrom(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a non-negative integer, got '${value}'`);
  return n;
}

function smtpUrlFrom(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^smtps?:\/\/[^/\s]+/.test(value))
    throw new Error("CENTIME_SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465");
  return value;
}

/** CENTIME_ARCHIVE_S3_ENDPOINT turns the S3 store on; then the bucket and both keys are required. */
function archiveS3From(env: NodeJS.ProcessEnv): Pick<Config, "archiveS3"> {
  const endpoint = env.CENTIME_ARCHIVE_S3_ENDPOINT;
  if (!endpoint) return {};
  if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint))
    throw new Error(
      "CENTIME_ARCHIVE_S3_ENDPOINT must be a base URL such as https://s3.eu-west-3.amazonaws.com",
    );
  const required = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`${name} is required with CENTIME_ARCHIVE_S3_ENDPOINT`);
    return value;
  };
  const prefix = env.CENTIME_ARCHIVE_S3_PREFIX ?? "";
  return {
    archiveS3: {
      endpoint,
      bucket: required("CENTIME_ARCHIVE_S3_BUCKET"),
      prefix: prefix && !prefix.endsWith("/") ? `${prefix}/` : prefix,
      region: env.CENTIME_ARCHIVE_S3_REGION || "us-east-1",
      accessKeyId: required("CENTIME_ARCHIVE_S3_ACCESS_KEY_ID"),
      secretAccessKey: required("CENTIME_ARCHIVE_S3_SECRET_ACCESS_KEY"),
    },
  };
}

function liveSwitch(value: string | undefined): LiveModeSwitch {
  if (value === undefined || value === "") return "auto";
  if (value === "auto" || value === "on" || value === "off") return value;
  throw new Error(`CENTIME_LIVE_MODE must be auto, on or off, got '${value}'`);
}

/**
 * The one place that reads the process environment. Code that needs a variable outside the
 * `Config` built at start (an operator secret named in the operator configuration, a development
 * switch read when a module loads) asks here, so every variable read is findable in this file.
 */
export function environmentValue(name: string): string | undefined {
  return process.env[name] || undefined;
}

/** The whole environment, for settings read as a group (checkout's `CENTIME_CHECKOUT_*`). */
export function environment(): Readonly<Record<string, string | undefined>> {
  return process.env;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    host: env.HOST || "127.0.0.1",
    port: intFrom(env.PORT, 8080, "PORT"),
    databaseUrl: env.DATABASE_URL || undefined,
    databaseReadUrl: env.DATABASE_READ_URL || undefined,
    dataDir: env.CENTIME_DATA_DIR || "./.centime",
    archiveDir: env.CENTIME_ARCHIVE_DIR || join(env.CENTIME_DATA_DIR || "./.centime", "archive"),
    ...archiveS3From(env),
    adminKey: env.CENTIME_ADMIN_KEY || undefined,
    voucherKey: env.CENTIME_VOUCHER_KEY || undefined,
    natsUrl: env.CENTIME_NATS_URL || undefined,
    logLevel: env.LOG_LEVEL || "info",
    rateLimitPerSecond: intFrom(env.CENTIME_RATE_LIMIT_PER_SECOND, 500, "CENTIME_RATE_LIMIT_PER_SECOND"),
    rateLimitBurst: intFrom(env.CENTIME_RATE_LIMIT_BURST, 1000, "CENTIME_RATE_LIMIT_BURST"),
    pageRateLimitPerSecond: intFrom(
      env.CENTIME_PAGE_RATE_LIMIT_PER_SECOND,
      10,
      "CENTIME_PAGE_RATE_LIMIT_PER_SECOND",
    ),
    pageRateLimitBurst: intFrom(env.CENTIME_PAGE_RATE_LIMIT_BURST, 120, "CENTIME_PAGE_RATE_LIMIT_BURST"),
    riskEngine: onOff(env.CENTIME_RISK_ENGINE, "CENTIME_RISK_ENGINE"),
    ...(env.CENTIME_IP_COUNTRY_HEADER ? { ipCountryHeader: headerName(env.CENTIME_IP_COUNTRY_HEADER) } : {}),
    authFailuresPerSecond: intFrom(
      env.CENTIME_AUTH_FAILURES_PER_SECOND,
      2,
      "CENTIME_AUTH_FAILURES_PER_SECOND",
    ),
    authFailuresBurst: intFrom(env.CENTIME_AUTH_FAILURES_BURST, 30, "CENTIME_AUTH_FAILURES_BURST"),
    sandboxAsyncDelayMs: intFrom(env.CENTIME_SANDBOX_ASYNC_DELAY_MS, 1000, "CENTIME_SANDBOX_ASYNC_DELAY_MS"),
    reconcileAfterMs: intFrom(env.CENTIME_RECONCILE_AFTER_MS, 2000, "CENTIME_RECONCILE_AFTER_MS"),
    dbPoolSize: intFrom(env.CENTIME_DB_POOL_SIZE, 12, "CENTIME_DB_POOL_SIZE"),
    writeConcurrency: intFrom(env.CENTIME_WRITE_CONCURRENCY, 4, "CENTIME_WRITE_CONCURRENCY"),
    dbPreparedStatements:
      onOff(env.CENTIME_DB_PREPARED_STATEMENTS, "CENTIME_DB_PREPARED_STATEMENTS") === "on",
    carrierNetworkUrl: env.CENTIME_CARRIER_NETWORK_URL || undefined,
    carrierSmpp: env.CENTIME_CARRIER_SMPP
      ? {
          host: env.CENTIME_CARRIER_SMPP.split(":")[0] ?? "127.0.0.1",
          port: intFrom(env.CENTIME_CARRIER_SMPP.split(":")[1], 2775, "CENTIME_CARRIER_SMPP"),
        }
      : undefined,
    publicUrl: env.CENTIME_PUBLIC_URL || undefined,
    smtpUrl: smtpUrlFrom(env.CENTIME_SMTP_URL),
    mailFrom: env.CENTIME_MAIL_FROM || "Centime <no-reply@centime.invalid>",
    webhookConcurrency: intFrom(env.CENTIME_WEBHOOK_CONCURRENCY, 256, "CENTIME_WEBHOOK_CONCURRENCY"),
    workerPort: intFrom(env.CENTIME_WORKER_PORT, 9090, "CENTIME_WORKER_PORT"),
    dbConnectTimeoutMs: intFrom(env.CENTIME_DB_CONNECT_TIMEOUT_MS, 5_000, "CENTIME_DB_CONNECT_TIMEOUT_MS"),
    dbQueryTimeoutMs: intFrom(env.CENTIME_DB_QUERY_TIMEOUT_MS, 10_000, "CENTIME_DB_QUERY_TIMEOUT_MS"),
    requestDeadlineMs: intFrom(env.CENTIME_REQUEST_DEADLINE_MS, 15_000, "CENTIME_REQUEST_DEADLINE_MS"),
    reconcileBackoffMaxMs: intFrom(
      env.CENTIME_RECONCILE_BACKOFF_MAX_MS,
      300_000,
      "CENTIME_RECONCILE_BACKOFF_MAX_MS",
    ),
    reconcileUnresolvedAfterMs: intFrom(
      env.CENTIME_RECONCILE_UNRESOLVED_AFTER_MS,
      900_000,
      "CENTIME_RECONCILE_UNRESOLVED_AFTER_MS",
    ),
    live: {
      mode: liveSwitch(env.CENTIME_LIVE_MODE),
      carrierNetworkUrl: env.CENTIME_CARRIER_NETWORK_URL || undefined,
      carrierPassword: env.CENTIME_CARRIER_PASSWORD || undefined,
      smppPassword: env.CENTIME_SMPP_PASSWORD || undefined,
      cardPspUrl: env.CENTIME_CARD_PSP_URL || undefined,
      cardPspSecret: env.CENTIME_CARD_PSP_SECRET || undefined,
    },
    sessionSecret: env.CENTIME_SESSION_SECRET || randomBytes(32).toString("base64url"),
    retentionDays: parseRetention(env.CENTIME_RETENTION_DAYS),
    adminTlsPort:
      env.CENTIME_ADMIN_TLS_PORT === undefined || env.CENTIME_ADMIN_TLS_PORT === ""
        ? undefined
        : intFrom(env.CENTIME_ADMIN_TLS_PORT, 0, "CENTIME_ADMIN_TLS_PORT"),
    adminCaDir: env.CENTIME_ADMIN_CA_DIR || join(env.CENTIME_DATA_DIR || "./.centime", "admin-ca"),
    totpKey: env.CENTIME_TOTP_KEY || undefined,
  };
}

/** A switch that is on unless set to `off`; anything else is refused at start. */
function onOff(value: string | undefined, name: string): "on" | "off" {
  if (value === undefined || value === "" || value === "on") return "on";
  if (value === "off") return "off";
  throw new Error(`${name} must be on or off, not '${value}'`);
}

/** An HTTP header name (RFC 9110 token), lower case as Node gives them. */
function headerName(value: string): string {
  const name = value.trim().toLowerCase();
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name))
    throw new Error(`CENTIME_IP_COUNTRY_HEADER: '${value}' is not a header name`);
  return name;
}
