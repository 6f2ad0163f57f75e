import type { FastifyInstance } from "fastify";
import type { Payers } from "../payers/index.ts";
import type { Risk } from "../risk/index.ts";
import { apiKeyPages } from "./api-keys.ts";
import type { BackOfficeServices } from "./context.ts";
import { operatorPages } from "./operators.ts";
import { refundRequestPages } from "./refund-requests.ts";
import { riskReviewPages } from "./risk-reviews.ts";
import { webhookPages } from "./webhooks.ts";

/**
 * The operations screens (webhooks, API keys, operators, the risk review queue, payers' refund
 * requests), for `backOfficePages`.
 */
export function opsPages(
  services: BackOfficeServices & { risk: Risk; payers: Payers },
): Array<(pages: FastifyInstance) => void> {
  return [
    webhookPages(services),
    apiKeyPages(services),
    operatorPages(services),
    riskReviewPages(services),
    refundRequestPages(services),
  ];
}
