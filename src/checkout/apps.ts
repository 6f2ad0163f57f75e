import type { Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import { checkEndpointUrl, newWebhookSecret, type UrlProblem } from "../events/index.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { CheckoutContext, Scope } from "./context.ts";
import type { AppRow } from "./model.ts";

/** A merchant's apps (its games and web sites): where embedded forms may live, where orders go. */

export const APP_LIMITS = { allowed_origins_max: 20, url_length_max: 2048, name_length_max: 200 } as const;

export interface AppInput {
  name: string;
  allowed_origins?: string[];
  fulfilment_url?: string;
  metadata?: Record<string, string>;
}

const URL_MESSAGES: Record<UrlProblem, string> = {
  invalid: "The URL is not valid.",
  scheme: "The URL must use http or https.",
  https_required: "Live-mode fulfilment URLs must use https.",
  credentials: "The URL must not contain a user name or password.",
  address_blocked: "The URL points to a private, loopback or otherwise non-public address.",
};

/** An origin exactly as browsers send it: scheme, host and port only, no path or trailing slash. */
export function normalizedOrigin(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  if (url.username || url.password) return undefined;
  const bare = text.endsWith("/") ? text.slice(0, -1) : text;
  return url.origin.toLowerCase() === bare.toLowerCase() ? url.origin : undefined;
}

function checkOrigins(scope: Scope, origins: readonly string[]): string[] {
  if (origins.length > APP_LIMITS.allowed_origins_max)
    throw new ApiError(
      "parameter_out_of_range",
      "allowed_origins",
      `At most ${APP_LIMITS.allowed_origins_max} origins.`,
    );
  return origins.map((origin, i) => {
    const normalized = normalizedOrigin(origin);
    if (!normalized)
      throw new ApiError(
        "parameter_invalid",
        `allowed_origins[${i}]`,
        "An origin is a scheme, a host and an optional port, like https://shop.example.com (no path).",
      );
    if (scope.mode === "live" && !normalized.startsWith("https:"))
      throw new ApiError("parameter_invalid", `allowed_origins[${i}]`, "Live-mode origins must use https.");
    return normalized;
  });
}

/** fulfilment_url follows the webhook URL rules (CENTIME_WEBHOOK_ALLOWED_HOSTS for local ones). */
export function checkFulfilmentUrl(ctx: CheckoutContext, scope: Scope, url: string, param: string): void {
  if (url.length > APP_LIMITS.url_length_max) throw new ApiError("parameter_too_long", param);
  const problem = checkEndpointUrl(url, scope.mode, ctx.settings.allowedHosts);
  if (problem) throw new ApiError("parameter_invalid", param, URL_MESSAGES[problem]);
}

export async function createApp(
  ctx: CheckoutContext,
  tx: Queryable,
  scope: Scope,
  input: AppInput,
): Promise<AppRow> {
  const name = input.name.trim();
  if (name.length === 0) throw new ApiError("parameter_invalid", "name", "Give the app a name.");
  const origins = checkOrigins(scope, input.allowed_origins ?? []);
  if (input.fulfilment_url !== undefined)
    checkFulfilmentUrl(ctx, scope, input.fulfilment_url, "fulfilment_url");
  const nowMs = ctx.clock.nowMs();
  const row: AppRow = {
    id: newId("app", nowMs),
    merchant_id: scope.merchantId,
    mode: scope.mode,
    name,
    allowed_origins: [...new Set(origins)],
    fulfilment_url: input.fulfilment_url ?? null,
    fulfilment_secret: newWebhookSecret(),
    metadata: input.metadata ?? {},
    created: new Date(nowMs),
    updated: new Date(nowMs),
  };
  await tx.query(
    `insert into checkout_apps (id, merchant_id, mode, name, allowed_origins, fulfilment_url, fulfilment_secret, metadata, created, updated)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      row.id,
      row.merchant_id,
      row.mode,
      row.name,
      row.allowed_origins,
      row.fulfilment_url,
      row.fulfilment_secret,
      JSON.stringify(row.metadata),
      row.created,
      row.updated,
    ],
  );
  return row;
}

export async function findApp(q: Queryable, scope: Scope, id: string): Promise<AppRow | undefined> {
  const { rows } = await q.query<AppRow>(
    "select * from checkout_apps where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  return rows[0];
}

export async function getApp(q: Queryable, scope: Scope, id: string, param = "id"): Promise<AppRow> {
  const app = await findApp(q, scope, id);
  if (!app) throw new ApiError("resource_missing", param, `No such app: '${id}'.`);
  return app;
}

export async function appById(q: Queryable, id: string): Promise<AppRow | undefined> {
  const { rows } = await q.query<AppRow>("select * from checkout_apps where id = $1", [id]);
  return rows[0];
}

export function listApps(q: Queryable, scope: Scope, page: ListParams) {
  return listPage<AppRow>(
    q,
    "checkout_apps",
    ["merchant_id = $1", "mode = $2"],
    [scope.merchantId, scope.mode],
    page,
  );
}
