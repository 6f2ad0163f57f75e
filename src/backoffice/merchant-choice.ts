import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type RequestAudit, recordAfter } from "../audit/index.ts";
import type { Db } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import type { Mode } from "../platform/scope.ts";
import type { RenderOptions } from "../web/index.ts";

/**
 * Platform staff belong to no merchant, yet support and finance look at one merchant's payments,
 * customers or reports at a time. They choose the merchant (and its test or live data) here; the
 * choice is a signed cookie of the back office (`<merchant id>|<mode>`), read on every page, and
 * the pages that show one merchant use it (`scopeOf` in pages.ts). Platform-wide pages (the
 * dashboard, the review queue, approvals, audit) are not narrowed by it. A merchant's own team
 * never sees this: their merchant is their account's.
 */
export const MERCHANT_COOKIE = "centime_admin_merchant";

export interface ChosenMerchant {
  merchantId: string;
  mode: Mode;
  name: string;
}

const MERCHANT_ID = /^mer_[0-9a-z]{10,40}$/;
const SEARCH_LENGTH_MAX = 100;
const LISTED_MAX = 100;

export function merchantChoiceUrl(next: string): string {
  return `/admin/merchants?next=${encodeURIComponent(next)}`;
}

/** The merchant a platform staff member chose, if the cookie is ours and the merchant exists. */
export async function chosenMerchant(db: Db, request: FastifyRequest): Promise<ChosenMerchant | null> {
  const raw = request.cookies[MERCHANT_COOKIE];
  if (!raw) return null;
  const unsigned = request.unsignCookie(raw);
  if (!unsigned.valid || !unsigned.value) return null;
  const [merchantId, mode] = unsigned.value.split("|");
  if (!merchantId || !MERCHANT_ID.test(merchantId) || (mode !== "test" && mode !== "live")) return null;
  const { rows } = await db.query<{ name: string }>("select name from merchants where id = $1", [merchantId]);
  return rows[0] ? { merchantId, mode, name: rows[0].name } : null;
}

/** What the routes are given by pages.ts (passed in rather than imported: no import cycle). */
export interface MerchantChoiceDeps {
  db: Db;
  cookie: { path: string; httpOnly: boolean; sameSite: "lax"; secure: boolean; maxAge: number };
  render(reply: FastifyReply, view: string, data: object, options: RenderOptions): FastifyReply;
  /** The signed-in staff member's context; throws when nobody is signed in. */
  signedIn(request: FastifyRequest): {
    staff: { merchant_id: string | null };
    chosen: ChosenMerchant | null;
    audit: RequestAudit;
  };
  nowMs(): number;
  /** A local /admin path to go back to, or the default page. */
  safeNext(next: unknown): string;
}

function platformOnly(deps: MerchantChoiceDeps, request: FastifyRequest) {
  const context = deps.signedIn(request);
  // A merchant's team member has one merchant: for them this page does not exist.
  if (context.staff.merchant_id !== null) throw new ApiError("resource_missing");
  return context;
}

/** `GET /admin/merchants` (the list to choose from, searchable) and `POST /admin/merchants/choose`. */
export function merchantChoiceRoutes(pages: FastifyInstance, deps: MerchantChoiceDeps): void {
  pages.get("/admin/merchants", { schema: { hide: true } }, async (request, reply) => {
    const context = platformOnly(deps, request);
    const query = request.query as { q?: unknown; next?: unknown };
    const q = typeof query.q === "string" ? query.q.trim().slice(0, SEARCH_LENGTH_MAX) : "";
    const { rows } = await deps.db.query<{ id: string; name: string; created: Date }>(
      `select id, name, created from merchants
        where $1 = '' or id = $1 or strpos(lower(name), lower($1)) > 0
        order by created desc, id desc limit ${LISTED_MAX}`,
      [q],
    );
    return deps.render(
      reply,
      "backoffice/templates/merchants",
      { merchants: rows, q, next: deps.safeNext(query.next), chosen: context.chosen, listedMax: LISTED_MAX },
      { title: "merchants.title" },
    );
  });

  pages.post("/admin/merchants/choose", { schema: { hide: true } }, async (request, reply) => {
    const context = platformOnly(deps, request);
    const body = request.body as { merchant?: unknown; mode?: unknown; next?: unknown };
    const merchantId = typeof body.merchant === "string" ? body.merchant : "";
    if (!MERCHANT_ID.test(merchantId))
      throw new ApiError("parameter_invalid", "merchant", "Choose a merchant.");
    if (body.mode !== "test" && body.mode !== "live")
      throw new ApiError("parameter_invalid", "mode", "Choose test or live data.");
    const { rowCount } = await deps.db.query("select 1 from merchants where id = $1", [merchantId]);
    if (rowCount === 0) throw new ApiError("parameter_invalid", "merchant", "No such merchant.");
    // Opening a merchant's data (its live data above all) is in the audit log, as the API's writes are.
    await recordAfter(
      deps.db,
      {
        ...context.audit,
        action: "merchants.choose",
        objectHint: merchantId,
        changes: { merchant: merchantId, mode: body.mode },
        recorded: false,
      },
      { statusCode: 303 },
      deps.nowMs(),
    );
    reply.setCookie(MERCHANT_COOKIE, `${merchantId}|${body.mode}`, { ...deps.cookie, signed: true });
    return reply.redirect(deps.safeNext(body.next), 303);
  });
}
