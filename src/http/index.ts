/**
 * The HTTP kit that capabilities' routes use (`src/<capability>/routes.ts`): the typed instance
 * they are given, replies, shared schemas. The composition root is app.ts; nothing imports it but
 * the server and tests.
 */
export { listBody, sendJson, toJson } from "./reply.ts";
export * from "./schemas.ts";
export type { Api, Routes } from "./surfaces.ts";
export { isIsoTimestamp, TIMESTAMP_MS_MAX, TIMESTAMP_MS_MIN } from "./validation.ts";
export { idempotencyScope, type Writes } from "./writes.ts";
