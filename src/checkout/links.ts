import type { Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { findApp } from "./apps.ts";
import type { CheckoutContext, Scope } from "./context.ts";
import { type LinkKeyring, signLinkPath } from "./link-signing.ts";
import type { AfterCompletion, LinkRow, SessionRow } from "./model.ts";
import { createSession, type LineItemInput, parseTimestamp, resolveLineItems } from "./sessions.ts";

/** Payment links: reusable or limited, signed URLs; each visit opens a new checkout session. */

export interface LinkInput {
  line_items?: LineItemInput[];
  amount?: number;
  currency?: string;
  description?: string;
  app?: string;
  expires_at?: string | number;
  max_uses?: number;
  after_completion?: AfterCompletion;
  metadata?: Record<string, string>;
}

export function linkUrl(
  ctx: CheckoutContext,
  link: Pick<LinkRow, "id" | "amount_total" | "currency" | "expires_at">,
  ring: LinkKeyring,
): string {
  return (
    ctx.publicUrl() +
    signLinkPath(
      {
        id: link.id,
        amount: BigInt(link.amount_total),
        currency: link.currency,
        expiresAtSeconds: link.expires_at ? Math.floor(new Date(link.expires_at).getTime() / 1000) : null,
      },
      ring,
    )
  );
}

function checkAfterCompletion(scope: Scope, value: AfterCompletion | undefined): AfterCompletion {
  if (!value) return { type: "hosted_confirmation" };
  if (value.type === "redirect") {
    let url: URL;
    try {
      url = new URL(value.url);
    } catch {
      throw new ApiError("parameter_invalid", "after_completion.url", "The URL is not valid.");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:")
      throw new ApiError("parameter_invalid", "after_completion.url", "The URL must use http or https.");
    if (scope.mode === "live" && url.protocol !== "https:")
      throw new ApiError("parameter_invalid", "after_completion.url", "Live-mode URLs must use https.");
  }
  return value;
}

export async function createLink(
  ctx: CheckoutContext,
  tx: Queryable,
  scope: Scope,
  input: LinkInput,
): Promise<LinkRow> {
  const nowMs = ctx.clock.nowMs();
  if (input.app !== undefined && !(await findApp(tx, scope, input.app)))
    throw new ApiError("resource_missing", "app", `No such app: '${input.app}'.`);
  const priced = await resolveLineItems(tx, scope, input, "secret");
  let expiresAt: Date | null = null;
  if (input.expires_at !== undefined) {
    const ms = parseTimestamp(input.expires_at, "expires_at");
    if (ms <= nowMs)
      throw new ApiError("parameter_out_of_range", "expires_at", "expires_at must be in the future.");
    // The URL carries whole seconds.
    expiresAt = new Date(Math.floor(ms / 1000) * 1000);
  }
  const row: LinkRow = {
    id: newId("plink", nowMs),
    merchant_id: scope.merchantId,
    mode: scope.mode,
    app_id: input.app ?? null,
    line_items: priced.items,
    amount_total: priced.total,
    currency: priced.currency,
    description: input.description ?? null,
    expires_at: expiresAt,
    max_uses: input.max_uses ?? null,
    uses: 0,
    active: true,
    after_completion: checkAfterCompletion(scope, input.after_completion),
    metadata: input.metadata ?? {},
    created: new Date(nowMs),
    updated: new Date(nowMs),
  };
  await tx.query(
    `insert into payment_links (id, merchant_id, mode, app_id, line_items, amount_total, currency, description, expires_at,
        max_uses, after_completion, metadata, created, updated)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)`,
    [
      row.id,
      row.merchant_id,
      row.mode,
      row.app_id,
      JSON.stringify(row.line_items),
      row.amount_total,
      row.currency,
      row.description,
      row.expires_at,
      row.max_uses,
      JSON.stringify(row.after_completion),
      JSON.stringify(row.metadata),
      row.created,
    ],
  );
  return row;
}

export async function getLink(q: Queryable, scope: Scope, id: string): Promise<LinkRow> {
  const { rows } = await q.query<LinkRow>(
    "select * from payment_links where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  if (!rows[0]) throw new ApiError("resource_missing", "id", `No such payment link: '${id}'.`);
  return rows[0];
}

export async function updateLink(
  ctx: CheckoutContext,
  tx: Queryable,
  scope: Scope,
  id: string,
  input: { active?: boolean },
) {
  await getLink(tx, scope, id);
  if (input.active === undefined) return getLink(tx, scope, id);
  const { rows } = await tx.query<LinkRow>(
    "update payment_links set active = $4, updated = $5 where id = $1 and merchant_id = $2 and mode = $3 returning *",
    [id, scope.merchantId, scope.mode, input.active, new Date(ctx.clock.nowMs())],
  );
  return rows[0]!;
}

export function listLinks(q: Queryable, scope: Scope, filters: { active?: boolean }, page: ListParams) {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  if (filters.active !== undefined) {
    params.push(filters.active);
    where.push(`active = $${params.length}`);
  }
  return listPage<LinkRow>(q, "payment_links", where, params, page);
}

/** Why an authentic link opens no session (410 pages). */
export type LinkRefusal = "expired" | "inactive" | "used_up";

/**
 * A visit to a link whose signature was verified: the link must still be active, unexpired and
 * not used up; then a fresh session is opened for this payer.
 */
export async function openLink(
  ctx: CheckoutContext,
  id: string,
  options: { locale?: string },
): Promise<{ ok: true; session: SessionRow } | { ok: false; reason: LinkRefusal | "unknown" }> {
  const nowMs = ctx.clock.nowMs();
  const { rows } = await ctx.db.query<LinkRow>("select * from payment_links where id = $1", [id]);
  const link = rows[0];
  // A signed id with no row: signed by this installation, then its data removed. Same page as tampered.
  if (!link) return { ok: false, reason: "unknown" };
  if (!link.active) return { ok: false, reason: "inactive" };
  if (link.expires_at && link.expires_at.getTime() <= nowMs) return { ok: false, reason: "expired" };
  if (link.max_uses !== null && link.uses >= link.max_uses) return { ok: false, reason: "used_up" };
  const scope = { merchantId: link.merchant_id, mode: link.mode };
  const session = await ctx.db.transaction((tx) =>
    createSession(
      ctx,
      tx,
      scope,
      {
        ...(link.app_id ? { app: link.app_id } : {}),
        ...(link.description ? { description: link.description } : {}),
        ...(options.locale ? { locale: options.locale } : {}),
        ...(link.after_completion.type === "redirect" ? { success_url: link.after_completion.url } : {}),
        metadata: link.metadata,
      },
      {
        caller: "link",
        paymentLinkId: link.id,
        fixedItems: { items: link.line_items, currency: link.currency, total: BigInt(link.amount_total) },
      },
    ),
  );
  return { ok: true, session };
}
