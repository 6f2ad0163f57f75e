import type { Queryable } from "../db/db.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { WEBHOOK_LIMITS } from "./limits.ts";
import { type EventsDeps, type ListBody, type ListParams, listPage, type Scope, toIso } from "./model.ts";
import { newWebhookSecret } from "./signing.ts";
import { allowedHostsFromEnv, checkEndpointUrl, type UrlProblem } from "./ssrf.ts";
import { isEventType } from "./types.ts";

/** Webhook endpoints: where a merchant wants its events POSTed, and which ones. */

export interface WebhookEndpoint {
  id: string;
  object: "webhook_endpoint";
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  /** Set when the platform disabled the endpoint: `gone` after the receiver answered 410. */
  disabled_reason: string | null;
  /** While a rotated-out secret still signs (both signatures are sent), when it stops. */
  previous_secret_expires: string | null;
  created: string;
  updated: string;
}

/** Returned by create and rotate only: the secret is never shown again. */
export interface WebhookEndpointWithSecret extends WebhookEndpoint {
  secret: string;
}

export interface WebhookEndpointRow {
  id: string;
  merchant_id: string;
  mode: string;
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires: Date | string | null;
  created: Date | string;
  updated: Date | string;
}

export function endpointBody(row: WebhookEndpointRow, nowMs: number): WebhookEndpoint {
  const previousExpires = row.previous_secret_expires === null ? null : toIso(row.previous_secret_expires);
  return {
    id: row.id,
    object: "webhook_endpoint",
    url: row.url,
    description: row.description,
    events: row.events,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    previous_secret_expires:
      previousExpires !== null && Date.parse(previousExpires) > nowMs ? previousExpires : null,
    created: toIso(row.created),
    updated: toIso(row.updated),
  };
}

const URL_MESSAGES: Record<UrlProblem, string> = {
  invalid: "The URL is not valid.",
  scheme: "The URL must use http or https.",
  https_required: "Live-mode webhook endpoints must use https.",
  credentials: "The URL must not contain a user name or password.",
  address_blocked:
    "The URL points to a private, loopback or otherwise non-public address. For local development, list the host in CENTIME_WEBHOOK_ALLOWED_HOSTS (e.g. CENTIME_WEBHOOK_ALLOWED_HOSTS=localhost,127.0.0.1) or use `centime listen --forward-to URL`.",
};

function validateUrl(deps: EventsDeps, scope: Scope, url: string): void {
  if (url.length > WEBHOOK_LIMITS.url_length_max) throw new ApiError("parameter_too_long", "url");
  const problem = checkEndpointUrl(url, scope.mode, deps.allowedHosts ?? allowedHostsFromEnv());
  if (problem) throw new ApiError("parameter_invalid", "url", URL_MESSAGES[problem]);
}

/**
 * `*` or types Centime writes (types.ts): a subscription to a misspelt type ("payment.succeded")
 * would receive nothing, silently, for ever.
 */
function validateEventTypes(events: readonly string[]): string[] {
  if (events.length === 0)
    throw new ApiError("parameter_missing", "events", "Choose at least one event type, or '*'.");
  if (events.length > WEBHOOK_LIMITS.event_types_per_endpoint_max)
    throw new ApiError("parameter_out_of_range", "events");
  events.forEach((type, index) => {
    if (type !== "*" && !isEventType(type)) {
      const shown = type.length > WEBHOOK_LIMITS.event_type_length_max ? `${type.slice(0, 40)}…` : type;
      throw new ApiError(
        "parameter_invalid",
        `events[${index}]`,
        `Not an event type: ${shown}. Use '*' or types such as payment.succeeded (the list is in docs/webhooks.md).`,
      );
    }
  });
  return [...new Set(events)];
}

async function findEndpoint(
  db: Queryable,
  scope: Scope,
  id: string,
  lock = false,
): Promise<WebhookEndpointRow> {
  const { rows } = await db.query<WebhookEndpointRow>(
    `select * from webhook_endpoints where id = $1 and merchant_id = $2 and mode = $3${lock ? " for update" : ""}`,
    [id, scope.merchantId, scope.mode],
  );
  const row = rows[0];
  if (!row) throw new ApiError("resource_missing", "id", `No such webhook endpoint: ${id}.`);
  return row;
}

export interface CreateWebhookEndpointInput {
  url: string;
  events: string[];
  description?: string;
  enabled?: boolean;
}

export async function createWebhookEndpoint(
  deps: EventsDeps,
  scope: Scope,
  input: CreateWebhookEndpointInput,
): Promise<WebhookEndpointWithSecret> {
  validateUrl(deps, scope, input.url);
  const events = validateEventTypes(input.events);
  const nowMs = deps.clock.nowMs();
  const secret = newWebhookSecret();
  const row = await deps.db.transaction(async (tx) => {
    // Two creates racing may both pass the count: the limit is a guard rail, not an invariant.
    const { rows: counted } = await tx.query<{ count: bigint }>(
      "select count(*) as count from webhook_endpoints where merchant_id = $1 and mode = $2",
      [scope.merchantId, scope.mode],
    );
    if (Number(counted[0]?.count ?? 0n) >= WEBHOOK_LIMITS.endpoints_per_merchant_max) {
      throw new ApiError(
        "parameter_out_of_range",
        undefined,
        `At most ${WEBHOOK_LIMITS.endpoints_per_merchant_max} webhook endpoints per mode.`,
      );
    }
    const { rows } = await tx.query<WebhookEndpointRow>(
      `insert into webhook_endpoints (id, merchant_id, mode, url, description, events, enabled, secret, created, updated)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) returning *`,
      [
        newId("we", nowMs),
        scope.merchantId,
        scope.mode,
        input.url,
        input.description ?? null,
        events,
        input.enabled ?? true,
        secret,
        iso(nowMs),
      ],
    );
    return rows[0]!;
  });
  return { ...endpointBody(row, nowMs), secret };
}

export async function getWebhookEndpoint(
  deps: EventsDeps,
  scope: Scope,
  id: string,
): Promise<WebhookEndpoint> {
  return endpointBody(await findEndpoint(deps.db, scope, id), deps.clock.nowMs());
}

export async function listWebhookEndpoints(
  deps: EventsDeps,
  scope: Scope,
  page: ListParams,
): Promise<ListBody<WebhookEndpoint>> {
  const nowMs = deps.clock.nowMs();
  const { rows, hasMore } = await listPage<WebhookEndpointRow>(
    deps.db,
    "webhook_endpoints",
    ["merchant_id = $1", "mode = $2"],
    [scope.merchantId, scope.mode],
    page,
  );
  return { object: "list", data: rows.map((r) => endpointBody(r, nowMs)), has_more: hasMore };
}

/** Stops deliveries to an endpoint: queued ones are canceled (redeliver an event to resend it). */
export async function disableEndpoint(
  tx: Queryable,
  endpointId: string,
  reason: string | null,
  nowMs: number,
) {
  await tx.query(
    "update webhook_endpoints set enabled = false, disabled_reason = $2, updated = $3 where id = $1",
    [endpointId, reason, iso(nowMs)],
  );
  await tx.query(
    "update webhook_deliveries set status = 'canceled', lease_token = null, updated = $2 where endpoint_id = $1 and status = 'pending'",
    [endpointId, iso(nowMs)],
  );
}

export interface UpdateWebhookEndpointInput {
  url?: string;
  events?: string[];
  description?: string | null;
  enabled?: boolean;
}

export async function updateWebhookEndpoint(
  deps: EventsDeps,
  scope: Scope,
  id: string,
  input: UpdateWebhookEndpointInput,
): Promise<WebhookEndpoint> {
  if (input.url !== undefined) validateUrl(deps, scope, input.url);
  const events = input.events === undefined ? undefined : validateEventTypes(input.events);
  const nowMs = deps.clock.nowMs();
  const row = await deps.db.transaction(async (tx) => {
    const current = await findEndpoint(tx, scope, id, true);
    if (input.enabled === false && current.enabled) await disableEndpoint(tx, id, null, nowMs);
    const { rows } = await tx.query<WebhookEndpointRow>(
      `update webhook_endpoints
          set url = coalesce($2, url),
              events = coalesce($3, events),
              description = case when $4 then $5 else description end,
              enabled = coalesce($6, enabled),
              disabled_reason = case when coalesce($6, enabled) then null else disabled_reason end,
              updated = $7
        where id = $1 returning *`,
      [
        id,
        input.url ?? null,
        events ?? null,
        input.description !== undefined,
        input.description ?? null,
        input.enabled ?? null,
        iso(nowMs),
      ],
    );
    return rows[0]!;
  });
  return endpointBody(row, nowMs);
}

export async function deleteWebhookEndpoint(
  deps: EventsDeps,
  scope: Scope,
  id: string,
): Promise<{ id: string; object: "webhook_endpoint"; deleted: true }> {
  const { rowCount } = await deps.db.query(
    "delete from webhook_endpoints where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  if (rowCount === 0) throw new ApiError("resource_missing", "id", `No such webhook endpoint: ${id}.`);
  return { id, object: "webhook_endpoint", deleted: true };
}

/**
 * A new secret signs from now on; the previous one keeps signing too until the overlap ends, so
 * a receiver can switch at its own pace. Rotating again during an overlap retires the oldest.
 */
export async function rotateWebhookEndpointSecret(
  deps: EventsDeps,
  scope: Scope,
  id: string,
  input: { overlapMs?: number } = {},
): Promise<WebhookEndpointWithSecret> {
  const overlapMs = input.overlapMs ?? WEBHOOK_LIMITS.rotation_overlap_default_ms;
  if (!Number.isInteger(overlapMs) || overlapMs < 0 || overlapMs > WEBHOOK_LIMITS.rotation_overlap_max_ms) {
    throw new ApiError("parameter_out_of_range", "overlap_seconds");
  }
  const nowMs = deps.clock.nowMs();
  const secret = newWebhookSecret();
  const row = await deps.db.transaction(async (tx) => {
    await findEndpoint(tx, scope, id, true);
    const { rows } = await tx.query<WebhookEndpointRow>(
      `update webhook_endpoints
          set previous_secret = case when $3::float8 > 0 then secret end,
              previous_secret_expires = case when $3::float8 > 0 then $4::timestamptz + make_interval(secs => $3::float8) end,
              secret = $2, updated = $4
        where id = $1 returning *`,
      [id, secret, overlapMs / 1000, iso(nowMs)],
    );
    return rows[0]!;
  });
  return { ...endpointBody(row, nowMs), secret };
}

export interface WebhookAttempt {
  id: string;
  object: "webhook_attempt";
  endpoint: string;
  event: string;
  event_type: string;
  url: string;
  attempt_number: number;
  manual: boolean;
  status: "succeeded" | "failed";
  response_status: number | null;
  error: string | null;
  latency_ms: number;
  created: string;
}

/** The row differs from the API object only in naming the endpoint and event by their columns. */
type AttemptRow = Omit<WebhookAttempt, "object" | "endpoint" | "event" | "created"> & {
  endpoint_id: string;
  event_id: string;
  created: Date | string;
};

/** Field by field: the row (`select *`) also holds internal columns that must not leak. */
function attemptBody(row: AttemptRow): WebhookAttempt {
  return {
    id: row.id,
    object: "webhook_attempt",
    endpoint: row.endpoint_id,
    event: row.event_id,
    event_type: row.event_type,
    url: row.url,
    attempt_number: row.attempt_number,
    manual: row.manual,
    status: row.status,
    response_status: row.response_status,
    error: row.error,
    latency_ms: row.latency_ms,
    created: toIso(row.created),
  };
}

/** Every attempt to deliver to one endpoint, newest first; `event` narrows to one event. */
export async function listWebhookAttempts(
  deps: EventsDeps,
  scope: Scope,
  endpointId: string,
  filters: { eventId?: string },
  page: ListParams,
): Promise<ListBody<WebhookAttempt>> {
  await findEndpoint(deps.db, scope, endpointId);
  const where = ["endpoint_id = $1", "merchant_id = $2", "mode = $3"];
  const params: unknown[] = [endpointId, scope.merchantId, scope.mode];
  if (filters.eventId !== undefined) {
    params.push(filters.eventId);
    where.push(`event_id = $${params.length}`);
  }
  const { rows, hasMore } = await listPage<AttemptRow>(deps.db, "webhook_attempts", where, params, page);
  return { object: "list", data: rows.map(attemptBody), has_more: hasMore };
}
