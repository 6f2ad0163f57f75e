import type { FastifyInstance } from "fastify";
import { handleProviderCallback } from "../../payments/remote-events.ts";
import type { Services } from "../../services.ts";

/**
 * Where operators and the card PSP send asynchronous results. No API key: each connector checks
 * the notification's own signature or token, and the body is handed over byte for byte.
 */
export function callbackRoutes(services: Services) {
  return async (app: FastifyInstance) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));
    app.post("/provider_callbacks/:operator/:attempt", { schema: { hide: true } }, async (request, reply) => {
      const { operator, attempt } = request.params as { operator: string; attempt: string };
      const answer = await handleProviderCallback(services.payments, operator, {
        attempt_id: attempt,
        query: request.query as Record<string, string | undefined>,
        headers: request.headers as Record<string, string | undefined>,
        body: typeof request.body === "string" ? request.body : "",
      });
      return reply.code(answer.status).send(answer.body);
    });
  };
}
