import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { CAMARA_SCHEMAS } from "./camara.ts";
import { ONEAPI_SCHEMAS } from "./oneapi.ts";

/**
 * Validation against the project's own protocol schemas (JSON Schema, written from the specs).
 * `multipleOfPrecision` lets decimal amounts (0.07 as a multiple of 0.001) pass as they should.
 */
const ajv = new Ajv({ allErrors: true, strict: false, multipleOfPrecision: 9 });
addFormats.default(ajv);

const SCHEMAS = { ...CAMARA_SCHEMAS, ...ONEAPI_SCHEMAS };
export type SchemaName = keyof typeof SCHEMAS;
const compiled = new Map<string, ValidateFunction>();

function validator(name: SchemaName | Record<string, unknown>): ValidateFunction {
  if (typeof name !== "string") return ajv.compile(name);
  let v = compiled.get(name);
  if (!v) {
    v = ajv.compile(SCHEMAS[name]);
    compiled.set(name, v);
  }
  return v;
}

/** Problems found in `value` (empty when it conforms), each as `path: message`. */
export function schemaProblems(schema: SchemaName | Record<string, unknown>, value: unknown): string[] {
  const v = validator(schema);
  if (v(value)) return [];
  return (v.errors ?? []).map((e) => `${e.instancePath || "/"}: ${e.message ?? "invalid"}`);
}
