import { ApiError } from "../platform/errors.ts";

/**
 * Strings the platform refuses wherever they arrive (path, query, body), once, at the edge:
 * U+0000 (PostgreSQL's text cannot hold it) and lone UTF-16 surrogates (not Unicode: they cannot
 * be stored or sent as UTF-8). And object keys that are JavaScript's own (`__proto__`), which
 * would change an object's prototype when copied with assignment.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what this looks for.
const FORBIDDEN_CHARACTERS = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function check(value: string, param: string): void {
  if (FORBIDDEN_CHARACTERS.test(value)) {
    throw new ApiError(
      "parameter_invalid",
      param,
      `Invalid ${param || "request"}: it contains U+0000 or an unpaired surrogate, which are not text.`,
    );
  }
}

function join(path: string, key: string): string {
  if (/^\d+$/.test(key)) return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

/**
 * How deep a request body may nest. No request of the API nests past four or five levels; a body
 * within the size limit can nest tens of thousands, which would overflow the stack of every
 * recursive reader after this one (validation, redaction, canonical JSON, PostgreSQL's jsonb).
 */
export const JSON_DEPTH_MAX = 32;

/** Throws a 400 naming the first hostile string in a parsed JSON value (keys included), or nesting too deep. */
export function assertCleanJson(value: unknown, path = "", depth = 0): void {
  if (typeof value === "string") {
    check(value, path);
    return;
  }
  if (value === null || typeof value !== "object") return;
  if (depth >= JSON_DEPTH_MAX) {
    throw new ApiError(
      "parameter_invalid",
      path,
      `Invalid ${path}: the request nests deeper than ${JSON_DEPTH_MAX} levels.`,
    );
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) assertCleanJson(value[i], `${path}[${i}]`, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    const param = join(path, key);
    check(key, param);
    if (key === "__proto__") {
      throw new ApiError("parameter_invalid", param, `Invalid ${param}: this name is reserved.`);
    }
    assertCleanJson((value as Record<string, unknown>)[key], param, depth + 1);
  }
}

/** The same for query strings and path parameters (flat objects of strings or string arrays). */
export function assertCleanParameters(values: unknown): void {
  if (values === null || typeof values !== "object") return;
  for (const [key, value] of Object.entries(values)) {
    check(key, key);
    if (typeof value === "string") check(value, key);
    else if (Array.isArray(value)) for (const item of value) if (typeof item === "string") check(item, key);
  }
}
