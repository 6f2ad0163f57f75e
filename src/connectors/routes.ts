import { Type } from "@sinclair/typebox";
import { listBody, listOf, type Routes, sendJson } from "../http/index.ts";
import { listOperators, operatorSummary } from "./operators/index.ts";

const OperatorsQuery = Type.Object(
  {
    country: Type.Optional(Type.String({ pattern: "^[A-Z]{2}$" })),
    limit: Type.Integer({ minimum: 1, maximum: 2000, default: 100 }),
    starting_after: Type.Optional(Type.String({ maxLength: 8 })),
  },
  { additionalProperties: false },
);

const Operator = Type.Object({
  object: Type.Literal("operator"),
  id: Type.String({ description: "MCC+MNC", examples: ["20801"] }),
  mcc: Type.String(),
  mnc: Type.String(),
  country: Type.String(),
  name: Type.String(),
  brand: Type.Optional(Type.String()),
  currency: Type.String(),
  time_zone: Type.String(),
  protocol: Type.String({ examples: ["oneapi", "camara", "parlayx", "smpp"] }),
  capabilities: Type.Array(Type.String()),
  caps: Type.Record(Type.String(), Type.Unknown(), { description: "Per-operator limits." }),
});

/** The operator registry, for merchants choosing where to charge (secret-key surface). */
export const operatorRoutes: Routes<unknown> = async (app) => {
  app.get(
    "/operators",
    {
      schema: {
        tags: ["operators"],
        operationId: "listOperators",
        summary: "List the mobile operators a carrier payment can go through",
        querystring: OperatorsQuery,
        response: { 200: listOf(Operator) },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const all = listOperators(query.country ? { country: query.country } : {})
        .map((o) => ({ object: "operator" as const, ...operatorSummary(o) }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const after = query.starting_after;
      const start = after ? all.findIndex((o) => o.id > after) : 0;
      const page = start < 0 ? [] : all.slice(start, start + query.limit);
      return sendJson(reply, 200, listBody(page, start >= 0 && start + query.limit < all.length));
    },
  );
};
