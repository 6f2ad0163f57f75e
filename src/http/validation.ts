import { Ajv, type ErrorObject } from "ajv";
import { ApiError, type ErrorCode } from "../platform/errors.ts";
import { ID_PATTERN } from "../platform/ids.ts";

/**
 * Bodies are validated strictly: no type coercion, unknown fields refused. Query strings and path
 * parameters arrive as text, so their validator coerces numbers.
 */
export const bodyAjv = new Ajv({
  allErrors: false,
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: false,
  discriminator: true,
  strict: false,
});

export const queryAjv = new Ajv({
  allErrors: false,
  coerceTypes: true,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
});

const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|z|[+-]\d{2}:?\d{2}))?$/;
export const TIMESTAMP_YEAR_MIN = 1970;
export const TIMESTAMP_YEAR_MAX = 9999;
export const TIMESTAMP_MS_MIN = Date.UTC(TIMESTAMP_YEAR_MIN, 0, 1);
export const TIMESTAMP_MS_MAX = Date.UTC(TIMESTAMP_YEAR_MAX, 11, 31, 23, 59, 59, 999);

/**
 * An ISO 8601 instant the platform can store and show: a real calendar date (no 2026-13-45, no
 * February 30), a real time of day, a year from 1970 to 9999.
 */
export function isIsoTimestamp(value: string): boolean {
  const match = ISO_TIMESTAMP.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < TIMESTAMP_YEAR_MIN || year > TIMESTAMP_YEAR_MAX || month < 1 || month > 12) return false;
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (calendar.getUTCDate() !== day || calendar.getUTCMonth() !== month - 1) return false;
  if (Number(match[4] ?? 0) > 23 || Number(match[5] ?? 0) > 59 || Number(match[6] ?? 0) > 59) return false;
  const ms = Date.parse(value);
  return ms >= TIMESTAMP_MS_MIN && ms <= TIMESTAMP_MS_MAX;
}

for (const ajv of [bodyAjv, queryAjv])
  ajv.addFormat("date-time", { type: "string", validate: isIsoTimestamp });

/** `/payment_method/scenario` → `payment_method.scenario`; `/events/0` → `events[0]`. */
function toParam(instancePath: string, extra?: string): string {
  const parts = instancePath.split("/").filter((p) => p.length > 0);
  if (extra !== undefined) parts.push(extra);
  let out = "";
  for (const part of parts) {
    const decoded = part.replace(/~1/g, "/").replace(/~0/g, "~");
    out += /^\d+$/.test(decoded) ? `[${decoded}]` : out.length === 0 ? decoded : `.${decoded}`;
  }
  return out;
}

/** Fields whose errors have a code of their own. A Map: a field named `constructor` is no code. */
const PARAM_CODES: ReadonlyMap<string, ErrorCode> = new Map([
  ["amount", "amount_invalid"],
  ["currency", "currency_invalid"],
  ["payment_method", "payment_method_invalid"],
]);

/** Turns the first schema violation into an error from the catalogue, naming the field. */
export function validationError(errors: readonly ErrorObject[], part: string): ApiError {
  const error = errors[0];
  if (!error) return new ApiError("parameter_invalid");
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "additionalProperties":
      return new ApiError(
        "parameter_unknown",
        toParam(error.instancePath, String(params.additionalProperty)),
        `Unknown parameter: ${toParam(error.instancePath, String(params.additionalProperty))}.`,
      );
    case "required": {
      const param = toParam(error.instancePath, String(params.missingProperty));
      return new ApiError("parameter_missing", param, `Missing required parameter: ${param}.`);
    }
  }
  // A key that breaks `propertyNames` (a metadata key too long) is named as the field it would be.
  const propertyName = (error as { propertyName?: string }).propertyName;
  const param =
    error.keyword === "discriminator"
      ? toParam(error.instancePath, String(params.tag))
      : toParam(error.instancePath, propertyName);
  if (param === "" && part === "body" && error.keyword === "type") return new ApiError("body_not_object");
  const leaf = param.split(".").at(-1) ?? param;
  const special = PARAM_CODES.get(leaf) ?? PARAM_CODES.get(param.split(".")[0] ?? "");
  if (special) return new ApiError(special, param, `Invalid ${param}: ${describe(error)}.`);
  switch (error.keyword) {
    case "type":
      return new ApiError("parameter_invalid_type", param, `Invalid ${param}: ${describe(error)}.`);
    case "maxLength":
      return new ApiError("parameter_too_long", param, `Invalid ${param}: ${describe(error)}.`);
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
    case "maxItems":
    case "minItems":
    case "maxProperties":
      return new ApiError("parameter_out_of_range", param, `Invalid ${param}: ${describe(error)}.`);
    default:
      return new ApiError("parameter_invalid", param, `Invalid ${param}: ${describe(error)}.`);
  }
}

function describe(error: ErrorObject): string {
  if ((error as { propertyName?: string }).propertyName !== undefined)
    return `the key ${error.message ?? "is not valid"}`;
  if (error.keyword === "enum") {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
    return allowed.length <= 12
      ? `must be one of ${allowed.map(String).join(", ")}`
      : "is not an allowed value";
  }
  if (error.keyword === "pattern") {
    const pattern = String((error.params as { pattern: unknown }).pattern);
    const prefix = /^\^([a-z]+)_\[0-9a-z\]\{26\}\$$/.exec(pattern)?.[1];
    if (prefix) return `must be an id: ${prefix}_ and 26 lower-case letters or digits`;
    if (pattern === ID_PATTERN.source) return "must be the id of an object of this list";
  }
  return error.message ?? "is not valid";
}
