/** Events and webhooks: what the rest of Centime uses. See docs/webhooks.md. */
export { runDeliveryPass } from "./delivery.ts";
export {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
  listWebhookAttempts,
  listWebhookEndpoints,
  rotateWebhookEndpointSecret,
  updateWebhookEndpoint,
} from "./endpoints.ts";
export { type Event, getEvent, insertEvents, listEvents, type NewEvent, redeliverEvent } from "./events.ts";
export type { EventsDeps, Scope } from "./model.ts";
export type { EventRow } from "./outbox.ts";
export { eventRow } from "./outbox.ts";
export { pruneEventsData } from "./retention.ts";
// Other capabilities that POST to merchants' URLs (checkout's fulfilment orders) share the same
// address rules, sender and Standard Webhooks signatures.
export { newAgents, postWebhook, type SendResult, type Transport } from "./sender.ts";
export { newWebhookSecret, signedHeaders } from "./signing.ts";
export { allowedHostsFromEnv, checkEndpointUrl, systemResolver, type UrlProblem } from "./ssrf.ts";
export { EVENT_TYPES, type EventType, isEventType } from "./types.ts";
export { startWebhookWorker, type WebhookWorker, type WebhookWorkerOptions } from "./worker.ts";
