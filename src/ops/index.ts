import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Services } from "../services.ts";
import { healthRoutes } from "./health.ts";

export {
  databaseFault,
  installRequestDeadline,
  RETRY_AFTER_SECONDS,
  serviceUnavailable,
} from "./deadline.ts";
export { registerOperationalGauges } from "./gauges.ts";
export { healthRoutes, READY_TIMEOUT_MS } from "./health.ts";
export { unresolvedRoutes } from "./routes.ts";

/** The little HTTP server of a worker process: /health, /ready and /metrics, nothing else. */
export async function buildOpsApp(services: Services, role: string): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.logger as unknown as FastifyBaseLogger,
    disableRequestLogging: true,
  });
  await app.register(healthRoutes({ db: services.db, metrics: services.metrics, role }));
  return app;
}
