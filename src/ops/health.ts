import type { FastifyInstance, FastifyReply } from "fastify";
import type { Db } from "../db/db.ts";
import { withTimeout } from "../db/faults.ts";
import { migrationState } from "../db/migrate.ts";
import type { Metrics } from "../platform/metrics.ts";

/** /ready answers within this even when the database hangs. */
export const READY_TIMEOUT_MS = 1_000;

function json(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type("application/json; charset=utf-8").send(JSON.stringify(body));
}

/**
 * `/health` (the process is up), `/ready` (the database answers and migrations are applied;
 * 503 within a second otherwise) and `/metrics` (Prometheus). Served by the API and, on its own
 * port, by a worker process.
 */
export function healthRoutes(deps: { db: Db; metrics: Metrics; role: string }) {
  return async (app: FastifyInstance) => {
    app.get("/health", { schema: { hide: true } }, async () => ({ status: "ok", role: deps.role }));
    app.get("/ready", { schema: { hide: true } }, async (_request, reply) => {
      try {
        const state = await withTimeout(migrationState(deps.db), READY_TIMEOUT_MS);
        const ready = state.pending.length === 0;
        return json(reply, ready ? 200 : 503, {
          status: ready ? "ready" : "migrations_pending",
          role: deps.role,
          database: { kind: deps.db.kind, reachable: true },
          migrations: { applied: state.applied, pending: state.pending },
        });
      } catch {
        reply.header("Retry-After", "1");
        return json(reply, 503, {
          status: "unavailable",
          role: deps.role,
          database: { kind: deps.db.kind, reachable: false },
        });
      }
    });
    app.get("/metrics", { schema: { hide: true } }, async (_request, reply) =>
      reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
    );
  };
}
