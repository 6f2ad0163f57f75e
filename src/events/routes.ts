import { type Static, type TSchema, Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Db } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
  listWebhookAttempts,
  listWebhookEndpoints,
  rotateWebhookEndpointSecret,
  updateWebhookEndpoint,
} from "./endpoints.ts";
import { type EventFilters, getEvent, listEvents, redeliverEvent } from "./events.ts";
import { WEBHOOK_LIMITS } from "./limits.ts";
import type { EventsDeps, Scope } from "./model.ts";

/**
 * HTTP routes of events and webhook endpoints, as a Fastify plugin for the `/v1` scope. Handlers
 * only translate between HTTP and the services; errors are `ApiError`s for the app's error handler.
 *
 * What the app supplies (the core's helpers fit as they are):
 * - `scope`: the merchant and mode of a secret-key request, e.g. `secretScope` from src/http/guards.ts.
 * - `idempotentPost` (optional): runs a POST through the Idempotency-Key gate, e.g.
 *   `(request, reply, scope, execute) => idempotentPost(services, request, reply, scope, execute)`.
 */
export interface WebhookRoutesContext {
  db: Db;
  clock: Clock;
  scope(request: FastifyRequest): Scope;
  /**
   * Runs `execute` once per Idempotency-Key, in one transaction with the key's record: `execute`
   * gets that transaction as its database.
   */
  idempotentPost?(
    request: FastifyRequest,
    reply: FastifyReply,
    scope: Scope,
    execute: (db: EventsDeps["db"]) => Promise<{ statusCode: number; body: string; storedBody?: string }>,
  ): Promise<FastifyReply>;
  allowedHosts?: ReadonlySet<string>;
}

const Id = Type.String({ maxLength: 64 });
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const ListFields = {
  limit: Type.Integer({ minimum: 1, maximum: LIMITS.list_limit_max, default: LIMITS.list_limit_default }),
  starting_after: Type.Optional(Id),
  ending_before: Type.Optional(Id),
};
const Url = Type.String({
  minLength: 1,
  maxLength: WEBHOOK_LIMITS.url_length_max,
  description: "https in live mode",
});
const EventTypes = Type.Array(
  Type.String({ minLength: 1, maxLength: WEBHOOK_LIMITS.event_type_length_max }),
  {
    minItems: 1,
    maxItems: WEBHOOK_LIMITS.event_types_per_endpoint_max,
    description: "Event types to receive, e.g. payment.succeeded; '*' for all.",
  },
);
const Description = Type.String({ maxLength: LIMITS.description_length_max });

const CreateEndpointBody = Type.Object(
  {
    url: Url,
    events: EventTypes,
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const UpdateEndpointBody = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(EventTypes),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const RotateBody = Type.Object(
  {
    overlap_seconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: WEBHOOK_LIMITS.rotation_overlap_max_ms / 1000,
        description: "How long the previous secret keeps signing too (default one day).",
      }),
    ),
  },
  { additionalProperties: false },
);
const RedeliverBody = Type.Object({ endpoint: Type.Optional(Id) }, { additionalProperties: false });
const Timestamp = Type.String({ maxLength: 40, description: "ISO 8601, or Unix seconds" });
const EventsQuery = Type.Object(
  {
    ...ListFields,
    type: Type.Optional(Type.String({ maxLength: WEBHOOK_LIMITS.event_type_length_max })),
    object_id: Type.Optional(Id),
    "created[gte]": Type.Optional(Timestamp),
    "created[gt]": Type.Optional(Timestamp),
    "created[lte]": Type.Optional(Timestamp),
    "created[lt]": Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object(ListFields, { additionalProperties: false });
const AttemptsQuery = Type.Object(
  { ...ListFields, event: Type.Optional(Id) },
  { additionalProperties: false },
);

const objectOf = (name: string, properties: Record<string, TSchema>) =>
  Type.Object(
    {
      id: Type.String(),
      object: Type.Literal(name),
      created: Type.String({ format: "date-time" }),
      ...properties,
    },
    { additionalProperties: true },
  );
const EndpointObject = objectOf("webhook_endpoint", {
  url: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  events: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Type.Union([Type.String(), Type.Null()]),
  previous_secret_expires: Type.Union([Type.String(), Type.Null()]),
  secret: Type.Optional(Type.String({ description: "whsec_…: shown only when created or rotated" })),
});
const EventObject = objectOf("event", {
  type: Type.String(),
  livemode: Type.Boolean(),
  data: Type.Unknown(),
});
const AttemptObject = objectOf("webhook_attempt", {
  endpoint: Type.String(),
  event: Type.String(),
  event_type: Type.String(),
  attempt_number: Type.Integer(),
  manual: Type.Boolean(),
  status: Type.Union([Type.Literal("succeeded"), Type.Literal("failed")]),
  response_status: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  latency_ms: Type.Integer(),
});
const listOf = (item: TSchema) =>
  Type.Object({ object: Type.Literal("list"), data: Type.Array(item), has_more: Type.Boolean() });

function send(reply: FastifyReply, statusCode: number, body: unknown): FastifyReply {
  return reply.code(statusCode).type("application/json; charset=utf-8").send(JSON.stringify(body));
}

function timestampMs(value: string | undefined, param: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{1,12}$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (Number.isNaN(ms))
    throw new ApiError("parameter_invalid", param, `Invalid ${param}: use ISO 8601 or Unix seconds.`);
  return ms;
}

function pageOf(query: { limit?: number; starting_after?: string; ending_before?: string }) {
  return {
    ...(query.limit === undefined ? {} : { limit: query.limit }),
    ...(query.starting_after === undefined ? {} : { starting_after: query.starting_after }),
    ...(query.ending_before === undefined ? {} : { ending_before: query.ending_before }),
  };
}

export function webhookRoutes(context: WebhookRoutesContext) {
  const deps: EventsDeps = {
    db: context.db,
    clock: context.clock,
    ...(context.allowedHosts ? { allowedHosts: context.allowedHosts } : {}),
  };
  /** POSTs go through the idempotency gate when the app provides one. */
  const post = async (
    request: FastifyRequest,
    reply: FastifyReply,
    scope: Scope,
    statusCode: number,
    work: (deps: EventsDeps) => Promise<unknown>,
  ) => {
    const execute = async (db: EventsDeps["db"]) => {
      const result = await work({ ...deps, db });
      const body = JSON.stringify(result);
      // A signing secret is shown once: a replay of the request answers without it.
      const hasSecret = typeof result === "object" && result !== null && "secret" in result;
      return {
        statusCode,
        body,
        ...(hasSecret ? { storedBody: JSON.stringify({ ...result, secret: null }) } : {}),
      };
    };
    if (context.idempotentPost) return context.idempotentPost(request, reply, scope, execute);
    const result = await execute(deps.db);
    return reply.code(result.statusCode).type("application/json; charset=utf-8").send(result.body);
  };
  const tags = ["webhooks"];

  return async (app: FastifyInstance) => {
    app.post(
      "/webhook_endpoints",
      { schema: { tags, body: CreateEndpointBody, response: { 201: EndpointObject } } },
      async (request, reply) => {
        const scope = context.scope(request);
        const body = request.body as Static<typeof CreateEndpointBody>;
        return post(request, reply, scope, 201, (d) => createWebhookEndpoint(d, scope, body));
      },
    );
    app.get(
      "/webhook_endpoints",
      { schema: { tags, querystring: ListQuery, response: { 200: listOf(EndpointObject) } } },
      async (request, reply) => {
        const scope = context.scope(request);
        const query = request.query as Static<typeof ListQuery>;
        return send(reply, 200, await listWebhookEndpoints(deps, scope, pageOf(query)));
      },
    );
    app.get(
      "/webhook_endpoints/:id",
      { schema: { tags, params: IdParams, response: { 200: EndpointObject } } },
      async (request, reply) => {
        const scope = context.scope(request);
        return send(reply, 200, await getWebhookEndpoint(deps, scope, (request.params as { id: string }).id));
      },
    );
    app.post(
      "/webhook_endpoints/:id",
      { schema: { tags, params: IdParams, body: UpdateEndpointBody, response: { 200: EndpointObject } } },
      async (request, reply) => {
        const scope = context.scope(request);
        const { id } = request.params as { id: string };
        const body = request.body as Static<typeof UpdateEndpointBody>;
        return post(request, reply, scope, 200, (d) => updateWebhookEndpoint(d, scope, id, body));
      },
    );
    app.delete("/webhook_endpoints/:id", { schema: { tags, params: IdParams } }, async (request, reply) => {
      const scope = context.scope(request);
      return send(
        reply,
        200,
        await deleteWebhookEndpoint(deps, scope, (request.params as { id: string }).id),
      );
    });
    app.post(
      "/webhook_endpoints/:id/rotate_secret",
      { schema: { tags, params: IdParams, body: RotateBody, response: { 200: EndpointObject } } },
      async (request, reply) => {
        const scope = context.scope(request);
        const { id } = request.params as { id: string };
        const { overlap_seconds } = (request.body ?? {}) as Static<typeof RotateBody>;
        return post(request, reply, scope, 200, (d) =>
          rotateWebhookEndpointSecret(
            d,
            scope,
            id,
            overlap_seconds === undefined ? {} : { overlapMs: overlap_seconds * 1000 },
          ),
        );
      },
    );
    app.get(
      "/webhook_endpoints/:id/attempts",
      {
        schema: {
          tags,
          params: IdParams,
          querystring: AttemptsQuery,
          response: { 200: listOf(AttemptObject) },
        },
      },
      async (request, reply) => {
        const scope = context.scope(request);
        const query = request.query as Static<typeof AttemptsQuery>;
        const filters = query.event === undefined ? {} : { eventId: query.event };
        const id = (request.params as { id: string }).id;
        return send(reply, 200, await listWebhookAttempts(deps, scope, id, filters, pageOf(query)));
      },
    );
    app.get(
      "/events",
      { schema: { tags: ["events"], querystring: EventsQuery, response: { 200: listOf(EventObject) } } },
      async (request, reply) => {
        const scope = context.scope(request);
        const query = request.query as Static<typeof EventsQuery>;
        const filters: EventFilters = {};
        if (query.type !== undefined) filters.type = query.type;
        if (query.object_id !== undefined) filters.objectId = query.object_id;
        for (const [param, key] of [
          ["created[gte]", "createdGte"],
          ["created[gt]", "createdGt"],
          ["created[lte]", "createdLte"],
          ["created[lt]", "createdLt"],
        ] as const) {
          const ms = timestampMs(query[param], param);
          if (ms !== undefined) filters[key] = ms;
        }
        return send(reply, 200, await listEvents(deps, scope, filters, pageOf(query)));
      },
    );
    app.get(
      "/events/:id",
      { schema: { tags: ["events"], params: IdParams, response: { 200: EventObject } } },
      async (request, reply) => {
        const scope = context.scope(request);
        return send(reply, 200, await getEvent(deps, scope, (request.params as { id: string }).id));
      },
    );
    app.post(
      "/events/:id/redeliver",
      { schema: { tags: ["events"], params: IdParams, body: RedeliverBody } },
      async (request, reply) => {
        const scope = context.scope(request);
        const { id } = request.params as { id: string };
        const { endpoint } = (request.body ?? {}) as Static<typeof RedeliverBody>;
        return post(request, reply, scope, 202, (d) =>
          redeliverEvent(d, scope, id, endpoint === undefined ? {} : { endpointId: endpoint }),
        );
      },
    );
  };
}
