import { type TSchema, Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Db } from "../db/db.ts";
import {
  CursorId,
  isIsoTimestamp,
  type Routes,
  StringEnum,
  sendJson,
  TIMESTAMP_MS_MAX,
} from "../http/index.ts";
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
import type { EventsDeps } from "./model.ts";
import { EVENT_TYPES } from "./types.ts";

/** What the routes need: the database and the clock, and where webhooks may go in development. */
export interface WebhookRoutesDeps {
  db: Db;
  /** The event list may lag (a replica); a single event, redelivery and endpoints use the primary. */
  readDb?: Db;
  clock: Clock;
  allowedHosts?: ReadonlySet<string>;
}

const Id = Type.String({ maxLength: 64 });
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const ListFields = {
  limit: Type.Integer({ minimum: 1, maximum: LIMITS.list_limit_max, default: LIMITS.list_limit_default }),
  starting_after: Type.Optional(CursorId),
  ending_before: Type.Optional(CursorId),
};
const Url = Type.String({
  minLength: 1,
  maxLength: WEBHOOK_LIMITS.url_length_max,
  description: "https in live mode",
});
const EventTypes = Type.Array(StringEnum(["*", ...EVENT_TYPES]), {
  minItems: 1,
  maxItems: WEBHOOK_LIMITS.event_types_per_endpoint_max,
  description: "Event types to receive (the types Centime writes), or '*' for all.",
});
const Description = Type.String({ maxLength: LIMITS.description_length_max });

const CreateEndpointBody = Type.Object(
  {
    url: Url,
    events: EventTypes,
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
  },
  {
    additionalProperties: false,
    examples: [
      { url: "https://example.com/centime/webhooks", events: ["payment.succeeded", "refund.succeeded"] },
    ],
  },
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
const DeletedObject = Type.Object({
  id: Type.String(),
  object: Type.Literal("webhook_endpoint"),
  deleted: Type.Literal(true),
});
const Redelivery = Type.Object({
  object: Type.Literal("event_redelivery"),
  event: Type.String(),
  webhook_endpoints: Type.Array(Type.String(), { description: "The endpoints the event is queued for." }),
  created: Type.String({ format: "date-time" }),
});
const listOf = (item: TSchema) =>
  Type.Object({ object: Type.Literal("list"), data: Type.Array(item), has_more: Type.Boolean() });

/** Unix seconds, or ISO 8601, between 1970 and 9999 (what the database and ISO 8601 can hold). */
function timestampMs(value: string | undefined, param: string): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d{1,12}$/.test(value)) {
    const ms = Number(value) * 1000;
    if (ms <= TIMESTAMP_MS_MAX) return ms;
  } else if (isIsoTimestamp(value)) {
    return Date.parse(value);
  }
  throw new ApiError(
    "parameter_invalid",
    param,
    `Invalid ${param}: use ISO 8601 or Unix seconds, between 1970 and 9999.`,
  );
}

function pageOf(query: { limit?: number; starting_after?: string; ending_before?: string }) {
  return {
    ...(query.limit === undefined ? {} : { limit: query.limit }),
    ...(query.starting_after === undefined ? {} : { starting_after: query.starting_after }),
    ...(query.ending_before === undefined ? {} : { ending_before: query.ending_before }),
  };
}

/**
 * HTTP routes of events and webhook endpoints, on the secret-key surface. Handlers only translate
 * between HTTP and the services; errors are `ApiError`s for the edge's error handler.
 */
export const webhookRoutes: Routes<WebhookRoutesDeps> = async (app, context) => {
  const deps: EventsDeps = {
    db: context.db,
    clock: context.clock,
    ...(context.allowedHosts ? { allowedHosts: context.allowedHosts } : {}),
  };
  /** A write in one transaction with its Idempotency-Key; a signing secret is shown once. */
  const post = <T>(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    work: (deps: EventsDeps) => Promise<T>,
  ) =>
    app.writes.transaction(request, reply, {
      status,
      // Inside the key's transaction, a nested transaction is that same transaction.
      work: (tx) => work({ ...deps, db: { query: tx.query.bind(tx), transaction: (inner) => inner(tx) } }),
      replayBody: (result) =>
        typeof result === "object" && result !== null && "secret" in result
          ? { ...result, secret: null }
          : result,
    });
  const tags = ["webhooks"];

  app.post(
    "/webhook_endpoints",
    {
      schema: {
        tags,
        operationId: "createWebhookEndpoint",
        summary: "Create a webhook endpoint (its signing secret is shown once)",
        body: CreateEndpointBody,
        response: { 201: EndpointObject },
      },
    },
    async (request, reply) =>
      post(request, reply, 201, (d) => createWebhookEndpoint(d, request.scope, request.body)),
  );
  app.get(
    "/webhook_endpoints",
    {
      schema: {
        tags,
        operationId: "listWebhookEndpoints",
        summary: "List webhook endpoints",
        querystring: ListQuery,
        response: { 200: listOf(EndpointObject) },
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await listWebhookEndpoints(deps, request.scope, pageOf(request.query))),
  );
  app.get(
    "/webhook_endpoints/:id",
    {
      schema: {
        tags,
        operationId: "getWebhookEndpoint",
        summary: "Retrieve a webhook endpoint",
        params: IdParams,
        response: { 200: EndpointObject },
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await getWebhookEndpoint(deps, request.scope, request.params.id)),
  );
  app.post(
    "/webhook_endpoints/:id",
    {
      schema: {
        tags,
        operationId: "updateWebhookEndpoint",
        summary: "Update a webhook endpoint's URL, events, description or state",
        params: IdParams,
        body: UpdateEndpointBody,
        response: { 200: EndpointObject },
      },
    },
    async (request, reply) =>
      post(request, reply, 200, (d) =>
        updateWebhookEndpoint(d, request.scope, request.params.id, request.body),
      ),
  );
  app.delete(
    "/webhook_endpoints/:id",
    {
      schema: {
        tags,
        operationId: "deleteWebhookEndpoint",
        summary: "Delete a webhook endpoint",
        params: IdParams,
        response: { 200: DeletedObject },
      },
    },
    async (request, reply) =>
      sendJson(reply, 200, await deleteWebhookEndpoint(deps, request.scope, request.params.id)),
  );
  app.post(
    "/webhook_endpoints/:id/rotate_secret",
    {
      schema: {
        tags,
        operationId: "rotateWebhookEndpointSecret",
        summary: "Roll a webhook endpoint's signing secret (the previous one signs too for a while)",
        params: IdParams,
        body: RotateBody,
        response: { 200: EndpointObject },
      },
    },
    async (request, reply) => {
      const { overlap_seconds } = request.body;
      const overlap = overlap_seconds === undefined ? {} : { overlapMs: overlap_seconds * 1000 };
      return post(request, reply, 200, (d) =>
        rotateWebhookEndpointSecret(d, request.scope, request.params.id, overlap),
      );
    },
  );
  app.get(
    "/webhook_endpoints/:id/attempts",
    {
      schema: {
        tags,
        operationId: "listWebhookAttempts",
        summary: "List a webhook endpoint's delivery attempts",
        params: IdParams,
        querystring: AttemptsQuery,
        response: { 200: listOf(AttemptObject) },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const filters = query.event === undefined ? {} : { eventId: query.event };
      const page = pageOf(query);
      return sendJson(
        reply,
        200,
        await listWebhookAttempts(deps, request.scope, request.params.id, filters, page),
      );
    },
  );
  app.get(
    "/events",
    {
      schema: {
        tags: ["events"],
        operationId: "listEvents",
        summary: "List events, newest first",
        querystring: EventsQuery,
        response: { 200: listOf(EventObject) },
      },
    },
    async (request, reply) => {
      const query = request.query;
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
      const listDeps = { ...deps, db: context.readDb ?? context.db };
      return sendJson(reply, 200, await listEvents(listDeps, request.scope, filters, pageOf(query)));
    },
  );
  app.get(
    "/events/:id",
    {
      schema: {
        tags: ["events"],
        operationId: "getEvent",
        summary: "Retrieve an event",
        params: IdParams,
        response: { 200: EventObject },
      },
    },
    async (request, reply) => sendJson(reply, 200, await getEvent(deps, request.scope, request.params.id)),
  );
  app.post(
    "/events/:id/redeliver",
    {
      schema: {
        tags: ["events"],
        operationId: "redeliverEvent",
        summary: "Send an event again to its endpoints (or to one)",
        params: IdParams,
        body: RedeliverBody,
        response: { 202: Redelivery },
      },
    },
    async (request, reply) => {
      const { endpoint } = request.body;
      const options = endpoint === undefined ? {} : { endpointId: endpoint };
      return post(request, reply, 202, (d) => redeliverEvent(d, request.scope, request.params.id, options));
    },
  );
};
