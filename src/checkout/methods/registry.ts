import type { FastifyInstance } from "fastify";
import type { Mode } from "../../platform/scope.ts";
import type { MethodType, SessionRow } from "../model.ts";
import type { PageKit } from "../page-kit.ts";

/**
 * The payment methods of the hosted page, one module each (`methods/<type>.ts`): the module says
 * when it is available and registers its pages under `/checkout/:id/<type>`. Adding a method is
 * adding one module to METHOD_MODULES (docs/checkout.md).
 */
export interface MethodModule {
  type: MethodType;
  /** The message key of the method's name on the method list. */
  labelKey: string;
  available(mode: Mode): boolean;
  /** Whether this session's page offers it (e.g. only with a customer); offered when absent. */
  offered?(session: SessionRow, kit: PageKit): boolean;
  register(pages: FastifyInstance, kit: PageKit): void;
}

const modules: MethodModule[] = [];

export function registerMethod(module: MethodModule): void {
  if (!modules.some((m) => m.type === module.type)) modules.push(module);
}

export function methodModules(): readonly MethodModule[] {
  return modules;
}

export function availableMethodTypes(mode: Mode): MethodType[] {
  return modules.filter((m) => m.available(mode)).map((m) => m.type);
}
