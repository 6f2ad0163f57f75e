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

interface Frame {
  keys: Set<string> | null;
  path: string;
  index: number;
  expectKey: boolean;
  lastKey: string;
}

function childPath(frame: Frame | undefined): string {
  if (!frame) return "";
  return frame.keys ? join(frame.path, frame.lastKey) : `${frame.path}[${frame.index}]`;
}

/** Keys of every object in a parsed value: fewer than the text names when a key was named twice. */
function parsedKeyCount(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += parsedKeyCount(item);
    return count;
  }
  for (const key in value) count += 1 + parsedKeyCount((value as Record<string, unknown>)[key]);
  return count;
}

/** Strings of the text followed by `:`, its object keys (strings are skipped with indexOf). */
function textKeyCount(text: string): number {
  let count = 0;
  let at = text.indexOf('"');
  while (at >= 0) {
    let end = text.indexOf('"', at + 1);
    for (;;) {
      let backslashes = 0;
      while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
      if (backslashes % 2 === 0) break;
      end = text.indexOf('"', end + 1);
    }
    let next = end + 1;
    while (text.charCodeAt(next) <= 0x20) next++;
    if (text.charCodeAt(next) === 0x3a /* : */) count++;
    at = text.indexOf('"', next);
  }
  return count;
}

/**
 * Throws a 400 naming a key an object of the body holds twice (`{"amount": 1, "amount": 100000}`).
 * JSON.parse keeps the last, while a proxy or a log in front of us may read the first: the request
 * would not mean one thing. `text` has already parsed as JSON to `parsed`: counting keys on both
 * sides is the fast check, and only a difference pays for finding which key it was.
 */
export function assertNoDuplicateKeys(text: string, parsed: unknown): void {
  if (textKeyCount(text) === parsedKeyCount(parsed)) return;
  nameDuplicateKey(text);
}

function nameDuplicateKey(text: string): void {
  const frames: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      while (text.charCodeAt(end) !== 0x22) {
        if (text.charCodeAt(end) === 0x5c /* \ */) {
          escaped = true;
          end++;
        }
        end++;
      }
      const top = frames[frames.length - 1];
      if (top?.keys && top.expectKey) {
        const raw = text.slice(i + 1, end);
        const key = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.keys.has(key)) {
          const param = join(top.path, key);
          throw new ApiError(
            "parameter_invalid",
            param,
            `Invalid ${param}: the body names it more than once.`,
          );
        }
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const path = childPath(frames[frames.length - 1]);
      frames.push({ keys: c === 0x7b ? new Set() : null, path, index: 0, expectKey: true, lastKey: "" });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      frames.pop();
    } else if (c === 0x2c /* , */) {
      const top = frames[frames.length - 1];
      if (top?.keys) top.expectKey = true;
      else if (top) top.index++;
    }
  }
}
