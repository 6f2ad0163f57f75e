import { Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Queryable } from "../db/db.ts";
import type { ListParams } from "../db/pages.ts";
import {
  type Api,
  IdOf,
  IdParams,
  ListQuery,
  listBody,
  objectSchema,
  type Routes,
  StringEnum,
  sendJson,
} from "../http/index.ts";
import { ApiError } from "../platform/errors.ts";
import { type AppInput, createApp, getApp, listApps } from "./apps.ts";
import { expireSession } from "./attempts.ts";
import { addProductCodes, productCodeCounts } from "./codes.ts";
import { type CheckoutContext, sessionUrl } from "./context.ts";
import { createLink, getLink, type LinkInput, linkUrl, listLinks, updateLink } from "./links.ts";
import { presentApp, presentLink, presentSession, type SessionRow } from "./model.ts";
import { listReceipts } from "./receipts.ts";
import {
  AppOut,
  CreateAppBody,
  CreateLinkBody,
  CreateSessionBody,
  LinkOut,
  List,
  SessionOut,
} from "./routes-schemas.ts";
import { createSession, getSession, listSessions, type SessionInput } from "./sessions.ts";
import { stepsOf } from "./steps.ts";

/** The checkout API (api.md, "Checkout"): apps, sessions, payment links, codes, receipts. */

/** What every checkout route shares: sessions shown with their steps, writes through the key gate. */
function helpers(app: Api, ctx: CheckoutContext) {
  return {
    present: async (rows: SessionRow[]) => {
      const steps = await stepsOf(
        ctx.db,
        rows.map((r) => r.id),
      );
      return rows.map((r) => presentSession(r, sessionUrl(ctx, r.id), steps.get(r.id) ?? []));
    },
    write: (
      request: FastifyRequest,
      reply: FastifyReply,
      status: number,
      work: (tx: Queryable) => Promise<unknown>,
    ) => app.writes.transaction(request, reply, { status, work: (tx) => work(tx) }),
  };
}

/** Apps, sessions (reading, expiring), links, codes and receipts: the secret-key surface. */
export const checkoutRoutes: Routes<CheckoutContext> = async (app, ctx) => {
  const { present, write } = helpers(app, ctx);
  {
    const tags = ["checkout"];

    app.post(
      "/apps",
      {
        schema: {
          tags,
          operationId: "createApp",
          summary:
            "Create an app (a game or web site): allowed origins for the embedded form, fulfilment URL.",
          body: CreateAppBody,
          response: { 201: AppOut },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        return write(request, reply, 201, async (tx) =>
          presentApp(await createApp(ctx, tx, scope, request.body as AppInput), { withSecret: true }),
        );
      },
    );
    app.get(
      "/apps/:id",
      {
        schema: {
          tags,
          operationId: "getApp",
          summary: "Retrieve an app.",
          params: IdParams,
          response: { 200: AppOut },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        return sendJson(
          reply,
          200,
          presentApp(await getApp(ctx.db, scope, (request.params as { id: string }).id)),
        );
      },
    );
    app.get(
      "/apps",
      {
        schema: {
          tags,
          operationId: "listApps",
          summary: "List apps, newest first.",
          querystring: ListQuery,
          response: { 200: List(AppOut) },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const page = await listApps(ctx.db, scope, request.query as ListParams);
        return sendJson(
          reply,
          200,
          listBody(
            page.rows.map((r) => presentApp(r)),
            page.hasMore,
          ),
        );
      },
    );

    app.get(
      "/checkout_sessions/:id",
      {
        schema: {
          tags,
          operationId: "getCheckoutSession",
          summary: "Retrieve a checkout session with the steps of its payer's journey.",
          params: IdParams,
          response: { 200: SessionOut },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const session = await getSession(ctx.db, scope, (request.params as { id: string }).id);
        return sendJson(reply, 200, (await present([session]))[0]);
      },
    );
    app.get(
      "/checkout_sessions",
      {
        schema: {
          tags,
          operationId: "listCheckoutSessions",
          summary: "List checkout sessions, newest first; filter by payment link, status or app.",
          querystring: Type.Composite(
            [
              ListQuery,
              Type.Object({
                payment_link: Type.Optional(IdOf("plink", "Only sessions of this payment link.")),
                status: Type.Optional(StringEnum(["open", "complete", "expired"] as const)),
                app: Type.Optional(IdOf("app", "Only sessions of this app.")),
              }),
            ],
            { additionalProperties: false },
          ),
          response: { 200: List(SessionOut) },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const query = request.query as ListParams & { payment_link?: string; status?: string; app?: string };
        const page = await listSessions(ctx.db, scope, query, query);
        return sendJson(reply, 200, listBody(await present(page.rows), page.hasMore));
      },
    );
    app.post(
      "/checkout_sessions/:id/expire",
      {
        schema: {
          tags,
          operationId: "expireCheckoutSession",
          summary: "Expire an open checkout session now (its waiting payment is canceled).",
          params: IdParams,
          body: Type.Optional(Type.Object({}, { additionalProperties: false })),
          response: { 200: SessionOut },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const id = (request.params as { id: string }).id;
        return app.writes.claimFirst(request, reply, {
          status: 200,
          work: async () => {
            const session = await getSession(ctx.db, scope, id);
            if (session.status === "complete")
              throw new ApiError(
                "checkout_session_unexpected_state",
                "id",
                "This checkout session is complete; it cannot expire.",
              );
            const after = await expireSession(ctx, session);
            if (after.status === "complete")
              throw new ApiError(
                "checkout_session_unexpected_state",
                "id",
                "The payment succeeded meanwhile; the session is complete.",
              );
            if (after.status === "open")
              throw new ApiError(
                "checkout_session_unexpected_state",
                "id",
                "A payment on this session is being processed; retry shortly.",
              );
            return (await present([after]))[0];
          },
        });
      },
    );

    app.post(
      "/payment_links",
      {
        schema: {
          tags,
          operationId: "createPaymentLink",
          summary: "Create a signed payment link: reusable or limited, with an expiry.",
          body: CreateLinkBody,
          response: { 201: LinkOut },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const ring = await ctx.keys.keyring();
        return write(request, reply, 201, async (tx) => {
          const link = await createLink(ctx, tx, scope, request.body as LinkInput);
          return presentLink(link, linkUrl(ctx, link, ring));
        });
      },
    );
    app.post(
      "/payment_links/:id",
      {
        schema: {
          tags,
          operationId: "updatePaymentLink",
          summary: "Update a payment link: `active: false` deactivates it (its URL then answers 410).",
          params: IdParams,
          body: Type.Object({ active: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
          response: { 200: LinkOut },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const ring = await ctx.keys.keyring();
        const id = (request.params as { id: string }).id;
        return write(request, reply, 200, async (tx) => {
          const link = await updateLink(ctx, tx, scope, id, request.body as { active?: boolean });
          return presentLink(link, linkUrl(ctx, link, ring));
        });
      },
    );
    app.get(
      "/payment_links/:id",
      {
        schema: {
          tags,
          operationId: "getPaymentLink",
          summary: "Retrieve a payment link; its URL is signed with the current key.",
          params: IdParams,
          response: { 200: LinkOut },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const link = await getLink(ctx.db, scope, (request.params as { id: string }).id);
        return sendJson(reply, 200, presentLink(link, linkUrl(ctx, link, await ctx.keys.keyring())));
      },
    );
    app.get(
      "/payment_links",
      {
        schema: {
          tags,
          operationId: "listPaymentLinks",
          summary: "List payment links, newest first.",
          querystring: Type.Composite([ListQuery, Type.Object({ active: Type.Optional(Type.Boolean()) })], {
            additionalProperties: false,
          }),
          response: { 200: List(LinkOut) },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const query = request.query as ListParams & { active?: boolean };
        const page = await listLinks(ctx.db, scope, query, query);
        const ring = await ctx.keys.keyring();
        return sendJson(
          reply,
          200,
          listBody(
            page.rows.map((l) => presentLink(l, linkUrl(ctx, l, ring))),
            page.hasMore,
          ),
        );
      },
    );

    const CodesOut = Type.Object({
      object: Type.Literal("product_codes"),
      product: Type.String(),
      added: Type.Optional(Type.Integer()),
      available: Type.Integer(),
      assigned: Type.Integer(),
    });
    app.post(
      "/products/:id/codes",
      {
        schema: {
          tags,
          operationId: "addProductCodes",
          summary: "Attach codes (game keys) to a product; each is handed out to one purchase, once.",
          params: IdParams,
          body: Type.Object(
            {
              codes: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
                minItems: 1,
                maxItems: 10_000,
              }),
            },
            { additionalProperties: false },
          ),
          response: { 200: CodesOut },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const id = (request.params as { id: string }).id;
        return write(request, reply, 200, (tx) =>
          addProductCodes(tx, scope, id, (request.body as { codes: string[] }).codes, ctx.clock.nowMs()),
        );
      },
    );
    app.get(
      "/products/:id/codes",
      {
        schema: {
          tags,
          operationId: "getProductCodes",
          summary: "How many of a product's codes are still available and how many were handed out.",
          params: IdParams,
          response: { 200: CodesOut },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        return sendJson(
          reply,
          200,
          await productCodeCounts(ctx.db, scope, (request.params as { id: string }).id),
        );
      },
    );

    const ReceiptOut = objectSchema("receipt", {
      checkout_session: Type.String(),
      channel: Type.String(),
      recipient: Type.String(),
      subject: Type.String(),
      body: Type.String(),
      status: Type.String(),
    });
    app.get(
      "/checkout_receipts",
      {
        schema: {
          tags,
          operationId: "listCheckoutReceipts",
          summary: "Receipts sent to payers (in development, the outbox of the sender that sends nothing).",
          querystring: Type.Composite(
            [
              ListQuery,
              Type.Object({ checkout_session: Type.Optional(IdOf("cs", "Only this session's receipts.")) }),
            ],
            {
              additionalProperties: false,
            },
          ),
          response: { 200: List(ReceiptOut) },
        },
      },
      async (request, reply) => {
        const scope = request.scope;
        const query = request.query as ListParams & { checkout_session?: string };
        const page = await listReceipts(ctx.db, scope, query.checkout_session, query);
        return sendJson(reply, 200, listBody(page.rows, page.hasMore));
      },
    );
  }
};

/** Creating a session: a secret key, or a publishable key selling its merchant's catalog prices. */
export const checkoutSessionCreateRoutes: Routes<CheckoutContext> = async (app, ctx) => {
  const tags = ["checkout"];
  const { write } = helpers(app, ctx);
  app.post(
    "/checkout_sessions",
    {
      schema: {
        tags,
        operationId: "createCheckoutSession",
        summary: "Create a checkout session (secret key, or a publishable key selling catalog prices).",
        body: CreateSessionBody,
        response: { 201: SessionOut },
      },
    },
    async (request, reply) => {
      const auth = request.auth;
      const caller = auth.kind === "merchant" && auth.keyType === "publishable" ? "publishable" : "secret";
      const scope = request.scope;
      return write(request, reply, 201, async (tx) => {
        const session = await createSession(ctx, tx, scope, request.body as SessionInput, { caller });
        return presentSession(session, sessionUrl(ctx, session.id), []);
      });
    },
  );
};

/** Rotating the payment-link signing keys: the admin key. */
export const linkKeyRoutes: Routes<CheckoutContext> = async (app, ctx) => {
  const tags = ["checkout"];
  app.post(
    "/payment_link_keys/rotate",
    {
      schema: {
        tags,
        operationId: "rotatePaymentLinkKeys",
        summary: "Admin: a new key signs payment links; links signed before keep working for the overlap.",
        body: Type.Object(
          { overlap_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 90 * 86_400 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            object: Type.Literal("payment_link_key"),
            kid: Type.String(),
            previous_retire_at: Type.String(),
          }),
        },
      },
    },
    async (request, reply) => {
      const overlap = (request.body as { overlap_seconds?: number }).overlap_seconds;
      const rotated = await ctx.keys.rotate(
        overlap === undefined ? ctx.settings.linkKeyOverlapMs : overlap * 1000,
      );
      return sendJson(reply, 200, { object: "payment_link_key", ...rotated });
    },
  );
};
