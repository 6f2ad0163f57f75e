import type { FastifyReply } from "fastify";

/**
 * JSON text of a response body. Sums of money past 2^53 travel as bigint and are written as
 * exact JSON integers (a plain number would lose digits); other bodies take the fast path.
 */
export function toJson(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const marked = JSON.stringify(body, (_key, value) =>
      typeof value === "bigint" ? `\u0000bigint:${value}\u0000` : value,
    );
    return marked.replace(/"\\u0000bigint:(-?\d+)\\u0000"/g, "$1");
  }
}

/** Sends a JSON body (already serialized, or serialized here) with its status. */
export function sendJson(reply: FastifyReply, statusCode: number, body: unknown): FastifyReply {
  // Already answered (the request deadline sent a 503): the late result is dropped.
  if (reply.sent) return reply;
  return reply
    .code(statusCode)
    .type("application/json; charset=utf-8")
    .send(typeof body === "string" ? body : toJson(body));
}

export function listBody<T>(data: T[], hasMore: boolean): { object: "list"; data: T[]; has_more: boolean } {
  return { object: "list", data, has_more: hasMore };
}
