import type { FastifyInstance } from "fastify";
import type { Risk } from "../risk/index.ts";
import { apiKeyPages } from "./api-keys.ts";
import type { BackOfficeServices } from "./context.ts";
import { operatorPages } from "./operators.ts";
import { riskReviewPages } from "./risk-reviews.ts";
import { webhookPages } from "./webhooks.ts";

/** The operations screens (webhooks, API keys, operators, the risk review queue), for `backOfficePages`. */
export function opsPages(
  services: BackOfficeServices & { risk: Risk },
): Array<(pages: FastifyInstance) => void> {
  return [webhookPages(services), apiKeyPages(services), operatorPages(services), riskReviewPages(services)];
}
