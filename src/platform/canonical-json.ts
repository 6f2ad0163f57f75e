/**
 * JSON with object keys sorted, so that text which means the same hashes the same: key order in a
 * request body does not make it another request (idempotency), and a jsonb round trip gives the
 * audit log's stored changes back with the same hash. Written with loops and string appends: it
 * runs for every request with a key and every audited one. Values JSON has no
 * form for are written as they read back from the stored text: a Date (anything with `toJSON`)
 * as its JSON, a bigint as a string (jsonb would keep a number exactly, but JavaScript reads a
 * large one back rounded and the hash would no longer match); functions and symbols are left
 * out, as JSON.stringify leaves them.
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined || typeof value === "function" || typeof value === "symbol") return "null";
  if (typeof value === "bigint") return JSON.stringify(value.toString());
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return canonicalJson(toJSON.call(value));
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonicalJson(value[i]);
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  // The default sort compares UTF-16 code units, as `<` does.
  const keys = Object.keys(object).sort();
  let out = "{";
  for (const key of keys) {
    const inner = object[key];
    if (inner === undefined || typeof inner === "function" || typeof inner === "symbol") continue;
    out += `${out.length === 1 ? "" : ","}${JSON.stringify(key)}:${canonicalJson(inner)}`;
  }
  return `${out}}`;
}
