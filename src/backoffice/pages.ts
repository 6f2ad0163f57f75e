import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { presentApproval } from "../approvals/index.ts";
import {
  appendAudit,
  draftFor,
  listAuditEvents,
  objectOf,
  type RequestAudit,
  recordAfter,
  runAudited,
} from "../audit/index.ts";
import { listRefundRequests } from "../payers/index.ts";
import { createRefund, getPayment, paymentTimeline } from "../payments/index.ts";
import { ApiError } from "../platform/errors.ts";
import { GRANT_AMOUNT_MAX } from "../platform/money.ts";
import type { Mode } from "../platform/scope.ts";
import type { Access, Permission, StaffRow } from "../staff/index.ts";
import { holds, presentStaff } from "../staff/index.ts";
import {
  loadCatalogues,
  PageRedirect,
  pagesSurface,
  parseMajorAmount,
  type RenderOptions,
  registerAsset,
} from "../web/index.ts";
import { certificateSignIn } from "./certificates.ts";
import type { BackOfficeServices } from "./context.ts";
import {
  type ChosenMerchant,
  chosenMerchant,
  merchantChoiceRoutes,
  merchantChoiceUrl,
} from "./merchant-choice.ts";
import { searchPayments } from "./search.ts";
import { SESSION_TTL_MS, StaffSessions } from "./sessions.ts";
import { approveBatchAsStaff, batchCreators, batchFor } from "./vouchers.ts";

const SESSION_COOKIE = "centime_admin";
const VOUCHER_NOTICES = ["created", "approved", "asked", "activated", "voided", "already"] as const;
registerAsset("backoffice.css", new URL("./assets/backoffice.css", import.meta.url).pathname);
const CATALOGUES = loadCatalogues(new URL("./messages", import.meta.url).pathname);

/** The left navigation; other capabilities add their pages with `addAdminNavigation`. */
const NAVIGATION: Array<{ key: string; href: string; permission: Permission | null }> = [
  { key: "nav.payments", href: "/admin/payments", permission: "payment:read" },
  { key: "nav.approvals", href: "/admin/approvals", permission: "approval:read" },
  { key: "nav.vouchers", href: "/admin/vouchers", permission: "voucher:read" },
  { key: "nav.staff", href: "/admin/staff", permission: "staff:read" },
  { key: "nav.audit", href: "/admin/audit", permission: "audit:read" },
];

export function addAdminNavigation(
  entry: { key: string; href: string; permission: Permission | null },
  /** The entry it follows (pages.md's order); the end when absent or unknown. */
  after?: string,
): void {
  if (NAVIGATION.some((n) => n.href === entry.href)) return;
  const at = after === undefined ? -1 : NAVIGATION.findIndex((n) => n.href === after);
  if (at < 0) NAVIGATION.push(entry);
  else NAVIGATION.splice(at + 1, 0, entry);
}

export interface StaffPageContext {
  staff: StaffRow;
  access: Access;
  /** A merchant's team member: their merchant and mode. Null for platform staff. */
  scope: { merchantId: string; mode: Mode } | null;
  /**
   * Platform staff: the merchant whose pages (payments, customers, catalog, reports…) they chose to
   * see (merchant-choice.ts). Platform-wide pages (dashboard, review queue) still read `scope`.
   */
  chosen: ChosenMerchant | null;
  /** The page asked for, to come back to after choosing a merchant. */
  path: string;
  audit: RequestAudit;
}

declare module "fastify" {
  interface FastifyRequest {
    staffPage: StaffPageContext | undefined;
  }
}

/** Renders a page inside the signed-in shell (navigation, the staff member's locale and zone). */
export function adminPage(
  reply: FastifyReply,
  view: string,
  data: object,
  options: RenderOptions,
): FastifyReply {
  const context = reply.request.staffPage;
  const nav = NAVIGATION.filter(
    (n) => !context || n.permission === null || holds(context.access, n.permission),
  ).map((n) => ({ ...n, current: reply.request.url.startsWith(n.href) }));
  return reply.page(
    "backoffice/templates/shell",
    {
      view,
      data,
      nav,
      staff: context?.staff ?? null,
      // Platform staff see which merchant's pages they are on, and can switch.
      merchantChoice: context && context.staff.merchant_id === null ? { chosen: context.chosen } : null,
    },
    {
      ...options,
      timeZone: context?.staff.time_zone ?? "UTC",
      styles: ["backoffice.css", ...(options.styles ?? [])],
    },
  );
}

export function requirePagePermission(request: FastifyRequest, permission: Permission): StaffPageContext {
  const context = request.staffPage;
  if (!context) throw new ApiError("api_key_missing");
  if (!holds(context.access, permission)) throw new ApiError("permission_denied");
  return context;
}

/**
 * The merchant and mode a merchant's page shows: the team member's own, or the one platform staff
 * chose. Platform staff who have not chosen are sent to the choice, then back to the page.
 */
export function scopeOf(context: StaffPageContext): { merchantId: string; mode: Mode } {
  if (context.scope) return context.scope;
  if (context.chosen) return { merchantId: context.chosen.merchantId, mode: context.chosen.mode };
  if (context.staff.merchant_id === null) throw new PageRedirect(merchantChoiceUrl(context.path));
  throw new ApiError("parameter_missing", "merchant", "Choose a merchant first.");
}

/**
 * Runs a page action that records its own success, and records its refusal (a 4xx, the missing
 * permission included) when it throws one: every write attempt by staff is in the audit log.
 */
async function auditingRefusals<T>(
  services: Pick<BackOfficeServices, "db" | "clock">,
  request: FastifyRequest,
  permission: Permission,
  audit: (context: StaffPageContext) => RequestAudit,
  work: (context: StaffPageContext, audit: RequestAudit) => Promise<T>,
): Promise<T> {
  const signed = request.staffPage;
  if (!signed) throw new ApiError("api_key_missing");
  const record = audit(signed);
  try {
    return await work(requirePagePermission(request, permission), record);
  } catch (error) {
    // recordAfter records once: a refusal after the work's own record adds nothing.
    if (error instanceof ApiError && error.status < 500)
      await recordAfter(services.db, record, { statusCode: error.status }, services.clock.nowMs());
    throw error;
  }
}

/**
 * `/admin`: sign-in, the signed-in shell and the back office's own pages. Other capabilities
 * register pages inside the same guard with `adminPages(services, routes)`.
 */
export function backOfficePages(
  services: BackOfficeServices,
  security: { cookieSecret: string; secureCookies: boolean },
  extra: Array<(pages: FastifyInstance) => Promise<void> | void> = [],
) {
  const sessions = new StaffSessions(services.db, services.clock, services.staff);
  return pagesSurface(
    { ...security, catalogues: CATALOGUES, locales: ["en", "fr", "ro", "es"] },
    async (pages) => {
      pages.decorateRequest("staffPage", undefined);
      const cookie = {
        path: "/admin",
        httpOnly: true,
        sameSite: "lax" as const,
        secure: security.secureCookies,
        signed: true,
      };

      // The session guard: every /admin page but sign-in needs a live session.
      pages.addHook("preHandler", async (request, reply) => {
        if (!request.url.startsWith("/admin")) return;
        // On the admin listener the certificate signs in, on every request (revocation is immediate).
        const certificate = await certificateSignIn(services.db, request, services.clock.nowMs());
        if (certificate.kind === "refused") {
          return reply.page(
            "backoffice/templates/login",
            { next: "/admin/payments", error: "login.certificate_refused", certificateOnly: true },
            { title: "login.title", status: 403, styles: ["backoffice.css"] },
          );
        }
        if (request.url.startsWith("/admin/login")) {
          if (certificate.kind === "staff" && request.method === "GET")
            return reply.redirect(safeNext((request.query as { next?: string }).next), 303);
          return;
        }
        let session: { staff: StaffRow; sessionId: string } | null = null;
        if (certificate.kind === "staff") {
          session = { staff: certificate.staff, sessionId: `certificate:${certificate.fingerprint}` };
        } else {
          const raw = request.cookies[SESSION_COOKIE];
          const unsigned = raw ? request.unsignCookie(raw) : null;
          session = unsigned?.valid ? await sessions.resolve(unsigned.value ?? undefined) : null;
        }
        if (!session) return reply.redirect(`/admin/login?next=${encodeURIComponent(request.url)}`, 303);
        const access = await services.staff.accessOf(session.staff, session.sessionId);
        const scope = session.staff.merchant_id
          ? { merchantId: session.staff.merchant_id, mode: session.staff.mode }
          : null;
        request.staffPage = {
          staff: session.staff,
          access,
          scope,
          chosen: scope ? null : await chosenMerchant(services.db, request),
          path: request.url,
          audit: {
            actor: access.actor,
            action: "",
            ip: request.ip,
            userAgent: request.headers["user-agent"]?.slice(0, 300) ?? null,
            requestId: request.id,
            changes: null,
            objectHint: null,
            recorded: false,
          },
        };
      });

      pages.get("/admin/login", { schema: { hide: true } }, async (request, reply) =>
        reply.page(
          "backoffice/templates/login",
          { next: safeNext((request.query as { next?: string }).next), error: null, email: "" },
          { title: "login.title", styles: ["backoffice.css"] },
        ),
      );

      pages.post("/admin/login", { schema: { hide: true } }, async (request, reply) => {
        const body = request.body as { email?: string; password?: string; code?: string; next?: string };
        const result = await sessions.signIn({
          email: String(body.email ?? "").slice(0, 254),
          password: String(body.password ?? "").slice(0, 200),
          code: String(body.code ?? "").replace(/\s/g, ""),
          ip: request.ip,
        });
        if (!result.ok) {
          return reply.page(
            "backoffice/templates/login",
            {
              next: safeNext(body.next),
              error: result.reason === "throttled" ? "login.throttled" : "login.invalid",
              // The address stays typed (the password and code do not): the usual mistake is elsewhere.
              email: String(body.email ?? "").slice(0, 254),
            },
            { title: "login.title", status: result.reason === "throttled" ? 429 : 401, locale: null },
          );
        }
        reply.setCookie(SESSION_COOKIE, result.token, { ...cookie, maxAge: SESSION_TTL_MS / 1000 });
        return reply.redirect(safeNext(body.next), 303);
      });

      pages.post("/admin/logout", { schema: { hide: true } }, async (request, reply) => {
        const raw = request.cookies[SESSION_COOKIE];
        const unsigned = raw ? request.unsignCookie(raw) : null;
        if (unsigned?.valid) await sessions.end(unsigned.value ?? undefined);
        reply.clearCookie(SESSION_COOKIE, { path: "/admin" });
        return reply.redirect("/admin/login", 303);
      });

      merchantChoiceRoutes(pages, {
        db: services.db,
        cookie: { ...cookie, maxAge: SESSION_TTL_MS / 1000 },
        render: adminPage,
        signedIn: (request) => {
          if (!request.staffPage) throw new ApiError("api_key_missing");
          return request.staffPage;
        },
        safeNext,
        nowMs: () => services.clock.nowMs(),
      });

      pages.get("/admin", { schema: { hide: true } }, async (_request, reply) =>
        reply.redirect("/admin/payments", 303),
      );

      pages.get("/admin/payments", { schema: { hide: true } }, async (request, reply) => {
        const context = requirePagePermission(request, "payment:read");
        const query = request.query as { q?: string; status?: string };
        const q = typeof query.q === "string" ? query.q.slice(0, 100) : "";
        const status =
          typeof query.status === "string" && /^[a-z_]{1,30}$/.test(query.status) ? query.status : "";
        const scope = scopeOf(context);
        const payments = await searchPayments(services.readDb, {
          ...scope,
          q: q || undefined,
          status: status || undefined,
        });
        return adminPage(
          reply,
          "backoffice/templates/payments",
          { payments, q, status },
          { title: "payments.title" },
        );
      });

      pages.get("/admin/payments/:id", { schema: { hide: true } }, async (request, reply) => {
        const context = requirePagePermission(request, "payment:read");
        const scope = scopeOf(context);
        const id = (request.params as { id: string }).id;
        const payment = await getPayment(services.payments, scope, id);
        const timeline = await paymentTimeline(services.payments, scope, id);
        const asked = await listRefundRequests(
          services.db,
          scope,
          { status: "pending", payment: id },
          { limit: 1 },
        );
        const notice = (request.query as { done?: string }).done ?? null;
        return adminPage(
          reply,
          "backoffice/templates/payment",
          {
            payment,
            timeline: (timeline as { data: Array<Record<string, unknown>> }).data,
            canRefund:
              holds(context.access, "payment:refund") &&
              payment.status === "succeeded" &&
              payment.amount_refund_reserved < payment.amount_captured,
            refundable: payment.amount_captured - payment.amount_refund_reserved,
            refundRequested: asked.rows.length > 0,
            notice: notice === "refunded" || notice === "approval" ? notice : null,
          },
          { title: id },
        );
      });

      pages.post("/admin/payments/:id/refund", { schema: { hide: true } }, async (request, reply) => {
        const id = (request.params as { id: string }).id;
        const body = request.body as { amount?: string };
        const { outcome } = await auditingRefusals(
          services,
          request,
          "payment:refund",
          (signed) => ({
            ...signed.audit,
            action: "refunds.create",
            changes: { payment: id, amount: body.amount ?? null },
            objectHint: id,
          }),
          async (context, audit) => {
            const scope = scopeOf(context);
            const payment = await getPayment(services.payments, scope, id);
            const amount = parseRefundAmount(
              body.amount,
              payment.currency,
              payment.amount_captured - payment.amount_refund_reserved,
            );
            audit.changes = { payment: id, amount: Number(amount) };
            const outcome = await runAudited(audit, async () => {
              const thresholds = await services.db.query<{ t: Record<string, number> }>(
                "select refund_approval_thresholds as t from merchants where id = $1",
                [scope.merchantId],
              );
              const threshold = thresholds.rows[0]?.t?.[payment.currency];
              if (typeof threshold === "number" && amount > BigInt(threshold)) {
                await services.db.transaction(async (tx) => {
                  const nowMs = services.clock.nowMs();
                  const approval = await services.approvals.request(
                    tx,
                    context.access,
                    "refund.create",
                    { merchant: scope.merchantId, mode: scope.mode, payment: id, amount: Number(amount) },
                    scope,
                    nowMs,
                  );
                  audit.objectHint = presentApproval(approval, nowMs).id;
                });
                return "approval" as const;
              }
              await createRefund(
                services.payments,
                scope,
                { payment: id, amount: Number(amount) },
                undefined,
              );
              return "refunded" as const;
            });
            await recordAfter(
              services.db,
              audit,
              { statusCode: outcome === "approval" ? 202 : 201 },
              services.clock.nowMs(),
            );
            return { outcome };
          },
        );
        return reply.redirect(`/admin/payments/${encodeURIComponent(id)}?done=${outcome}`, 303);
      });

      pages.get("/admin/approvals", { schema: { hide: true } }, async (request, reply) => {
        const context = requirePagePermission(request, "approval:read");
        const { rows } = await services.approvals.list(context.access, "pending", { limit: 100 });
        const nowMs = services.clock.nowMs();
        const approvals = rows.map((r) => ({
          ...presentApproval(r, nowMs),
          mine: r.maker === context.access.actor.id,
          canDecide: r.maker !== context.access.actor.id && holds(context.access, r.permission as Permission),
        }));
        return adminPage(
          reply,
          "backoffice/templates/approvals",
          { approvals },
          { title: "approvals.title" },
        );
      });

      for (const decision of ["approve", "reject"] as const) {
        pages.post(`/admin/approvals/:id/${decision}`, { schema: { hide: true } }, async (request, reply) => {
          const id = (request.params as { id: string }).id;
          await auditingRefusals(
            services,
            request,
            "approval:read",
            (signed) => ({ ...signed.audit, action: `approvals.${decision}`, objectHint: id }),
            async (context, audit) => {
              await runAudited(audit, async () => {
                if (decision === "approve") await services.approvals.prepare(context.access, id);
                const approved = await services.db.transaction((tx) =>
                  decision === "approve"
                    ? services.approvals.approve(tx, context.access, id, services.clock.nowMs())
                    : services.approvals.reject(tx, context.access, id, services.clock.nowMs()),
                );
                if (decision === "approve") await services.approvals.finish(context.access, approved);
              });
              await recordAfter(services.db, audit, { statusCode: 200 }, services.clock.nowMs());
            },
          );
          return reply.redirect("/admin/approvals", 303);
        });
      }

      /**
       * The batches and the order form; after a refused order, the form as the staff member left
       * it with the error beside its field (it was a bare error page, and the form came back empty).
       */
      async function renderVouchers(
        request: FastifyRequest,
        reply: FastifyReply,
        form: {
          values: Record<string, string>;
          errors: Record<string, { key: string } | { text: string }>;
        } = {
          values: {},
          errors: {},
        },
        status = 200,
      ) {
        const context = requirePagePermission(request, "voucher:read");
        const scope = scopeOf(context);
        const { rows } = await services.community.batches.list(scope, { limit: 50 });
        const creators = await batchCreators(
          services.db,
          rows.map((b) => b.id),
        );
        const owner = context.staff.role === "owner" && holds(context.access, "voucher:approve");
        const query = request.query as { done?: string; count?: string };
        const notice = query.done;
        const count = /^\d{1,9}$/.test(query.count ?? "") ? Number(query.count) : 0;
        return adminPage(
          reply,
          "backoffice/templates/vouchers",
          {
            batches: rows.map((b) => ({ ...b, mine: creators.get(b.id) === context.staff.id })),
            canCreate: holds(context.access, "voucher:write"),
            canApprove: holds(context.access, "voucher:write"),
            canDownload: holds(context.access, "voucher:write"),
            owner,
            notice: VOUCHER_NOTICES.includes(notice as never) ? notice : null,
            count,
            newKey: randomUUID,
            values: form.values,
            errors: form.errors,
          },
          { title: "vouchers.title", status },
        );
      }

      pages.get("/admin/vouchers", { schema: { hide: true } }, (request, reply) =>
        renderVouchers(request, reply),
      );

      pages.post("/admin/vouchers", { schema: { hide: true } }, async (request, reply) => {
        const body = request.body as { count?: string; amount?: string; currency?: string };
        try {
          await orderBatch(request, body);
        } catch (error) {
          // Refused input comes back in the form (still recorded as refused); a missing permission
          // or anything else keeps its error page.
          if (!(error instanceof ApiError) || error.status !== 400) throw error;
          // The form's own checks name the field; the batches' ("value.currency") name it last.
          const named = error.param?.split(".").pop();
          const field = ["count", "amount", "currency"].find((f) => f === named) ?? null;
          const values = {
            count: String(body.count ?? ""),
            amount: String(body.amount ?? ""),
            currency: String(body.currency ?? ""),
          };
          const errors = field
            ? { [field]: { key: `vouchers.error_${field}` } }
            : { "voucher-form": { text: error.message } };
          return renderVouchers(request, reply, { values, errors }, 400);
        }
        return reply.redirect("/admin/vouchers?done=created", 303);
      });

      async function orderBatch(
        request: FastifyRequest,
        body: { count?: string; amount?: string; currency?: string },
      ) {
        await auditingRefusals(
          services,
          request,
          "voucher:write",
          (signed) => ({
            ...signed.audit,
            action: "voucher_batches.create",
            changes: {
              count: body.count ?? null,
              amount: body.amount ?? null,
              currency: body.currency ?? null,
            },
          }),
          async (context, audit) => {
            const scope = scopeOf(context);
            const count = wholeNumber(body.count, "count", 1, 100_000);
            const currency = String(body.currency ?? "")
              .trim()
              .toUpperCase();
            // Null for a code that is neither ISO 4217 nor one of the merchant's currencies.
            const digits = await services.community.currencies.digits(services.db, scope, currency);
            if (digits === null) throw new ApiError("parameter_invalid", "currency");
            const amount = cardValue(body.amount, currency, digits);
            const input = { count, value: { amount, currency } };
            audit.changes = input;
            await runAudited(audit, () =>
              services.db.transaction(async (tx) => {
                const nowMs = services.clock.nowMs();
                const batch = await services.community.batches.create(
                  tx,
                  scope,
                  context.access.actor.credential ?? context.staff.id,
                  input,
                  nowMs,
                );
                await appendAudit(tx, [draftFor(audit, { statusCode: 201, object: batch.id }, nowMs)]);
              }),
            );
            audit.recorded = true;
          },
        );
      }

      pages.post("/admin/vouchers/:id/approve", { schema: { hide: true } }, async (request, reply) => {
        const id = (request.params as { id: string }).id;
        const outcome = await auditingRefusals(
          services,
          request,
          "voucher:write",
          (signed) => ({ ...signed.audit, action: "voucher_batches.approve", objectHint: id }),
          async (context, audit) => {
            const outcome = await runAudited(audit, async () => {
              const batch = await batchFor(services.db, context.access, id);
              const key = await services.community.batches.codeKey();
              return services.db.transaction(async (tx) => {
                const nowMs = services.clock.nowMs();
                const result = await approveBatchAsStaff(services, tx, context.access, batch, key, nowMs);
                await appendAudit(tx, [
                  draftFor(
                    audit,
                    { statusCode: result.statusCode, object: objectOf(result.body, id) },
                    nowMs,
                  ),
                ]);
                return result.statusCode === 200 ? "approved" : "asked";
              });
            });
            audit.recorded = true;
            return outcome;
          },
        );
        return reply.redirect(`/admin/vouchers?done=${outcome}`, 303);
      });

      pages.get("/admin/vouchers/:id/codes", { schema: { hide: true } }, async (request, reply) => {
        const id = (request.params as { id: string }).id;
        // Handing out the codes is a write (the sealed copy is gone): recorded, never the codes;
        // a second download (410) or one without the permission is recorded as refused.
        const csv = await auditingRefusals(
          services,
          request,
          "voucher:write",
          (signed) => ({ ...signed.audit, action: "voucher_batches.codes.read", objectHint: id }),
          async (context, audit) => {
            const taken = await services.community.batches.takeCodes(
              scopeOf(context),
              id,
              services.clock.nowMs(),
            );
            await recordAfter(services.db, audit, { statusCode: 200 }, services.clock.nowMs());
            return taken;
          },
        );
        return reply
          .type("text/csv; charset=utf-8")
          .header("content-disposition", `attachment; filename="${id}.csv"`)
          .header("cache-control", "no-store")
          .send(csv);
      });

      pages.get("/admin/staff", { schema: { hide: true } }, async (request, reply) => {
        const context = requirePagePermission(request, "staff:read");
        const merchantId = context.access.actor.merchantId;
        const members = (await services.staff.list(merchantId)).map(presentStaff);
        const roles = await services.staff.listRoles(merchantId);
        return adminPage(reply, "backoffice/templates/staff", { members, roles }, { title: "staff.title" });
      });

      pages.get("/admin/audit", { schema: { hide: true } }, async (request, reply) => {
        const context = requirePagePermission(request, "audit:read");
        const query = request.query as { actor?: string; object?: string; action?: string };
        const filter = {
          merchantId: context.access.actor.merchantId,
          ...(query.actor ? { actor: String(query.actor).slice(0, 100) } : {}),
          ...(query.object ? { object: String(query.object).slice(0, 100) } : {}),
          ...(query.action ? { action: String(query.action).slice(0, 100) } : {}),
        };
        const page = await listAuditEvents(services.db, filter, { limit: 100 });
        // People by their e-mail rather than an id (the id stays, as the link that filters by it).
        const staffIds = [...new Set(page.rows.map((e) => e.actor).filter((a) => a.startsWith("stf_")))];
        const emails = await services.staff.emailsOf(staffIds, context.access.actor.merchantId);
        // Reading the log is itself recorded.
        await recordAfter(
          services.db,
          { ...context.audit, action: "audit_events.read", changes: filter },
          { statusCode: 200 },
          services.clock.nowMs(),
        );
        return adminPage(
          reply,
          "backoffice/templates/audit",
          { events: page.rows, filter, emails },
          { title: "audit.title" },
        );
      });

      for (const register of extra) await register(pages);
    },
  );
}

function wholeNumber(value: unknown, param: string, min: number, max: number): number {
  const text = String(value ?? "").trim();
  if (!/^\d{1,12}$/.test(text)) throw new ApiError("parameter_invalid", param);
  const n = Number(text);
  if (n < min || n > max) throw new ApiError("parameter_invalid", param);
  return n;
}

/** Only a path inside /admin, never another site. */
function safeNext(next: unknown): string {
  return typeof next === "string" && /^\/admin(\/[\w\-./?=&%]*)?$/.test(next) && !next.startsWith("//")
    ? next
    : "/admin/payments";
}

/**
 * A card's value as people write it in its currency ("5" is 5.00 EUR, "4,99" is 4.99; an inner
 * currency with its own digits), in minor units; the form took minor units, so "5" made cards
 * worth 0.05 EUR.
 */
function cardValue(value: string | undefined, currency: string, digits: number): number {
  const amount = parseMajorAmount(String(value ?? "").trim(), currency, digits);
  if (amount === null || amount < 1n || amount > BigInt(GRANT_AMOUNT_MAX))
    throw new ApiError("parameter_invalid", "amount");
  return Number(amount);
}

/**
 * The amount a person typed, in the currency's own format ("2" is 2.00 EUR, "2,50" is 2.50), as
 * the page shows it (inner currencies without decimals); empty = all that is left. A staff member
 * who typed "2" meaning two euros once refunded 0.02 EUR when this form took minor units.
 */
function parseRefundAmount(value: string | undefined, currency: string, refundable: bigint): bigint {
  const text = String(value ?? "").trim();
  if (text === "") return refundable;
  const amount = parseMajorAmount(text, currency, 0);
  if (amount === null)
    throw new ApiError(
      "amount_invalid",
      "amount",
      `Type the amount in ${currency} as it is written, like 2 or 2.50; leave it empty to refund all that is left.`,
    );
  if (amount <= 0n || amount > refundable) throw new ApiError("refund_exceeds_captured", "amount");
  return amount;
}
