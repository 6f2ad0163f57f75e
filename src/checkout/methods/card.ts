import type { FastifyInstance } from "fastify";
import type { PageKit } from "../page-kit.ts";
import type { MethodModule } from "./registry.ts";

function register(_pages: FastifyInstance, _kit: PageKit): void {}

/** Cards: the form posts to the card provider (never to Centime); see register(). */
export const cardMethod: MethodModule = {
  type: "card",
  labelKey: "checkout.method.card",
  available: () => false,
  register,
};
