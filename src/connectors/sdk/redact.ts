/** Removes secrets before anything reaches the interaction log: headers, fields and XML elements. */

const SECRET_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "x-api-key",
  "api-key",
  "cookie",
  "set-cookie",
  "x-signature",
]);
const SECRET_KEY = /pass(word)?|secret|token|pin|otp|cvc|cvv|api[_-]?key|authorization|signature/i;
const REDACTED = "[redacted]";

export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = SECRET_HEADERS.has(name.toLowerCase()) ? REDACTED : value;
  }
  return out;
}

/** Deep copy of a JSON-ish value with secret-looking keys replaced; card numbers keep the last 4. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (depth > 20) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  if (typeof value === "bigint") return value.toString();
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (SECRET_KEY.test(key)) out[key] = REDACTED;
      else if (/^(number|pan|card_number)$/i.test(key) && typeof v === "string")
        out[key] = `****${v.slice(-4)}`;
      else out[key] = redactValue(v, depth + 1);
    }
    return out;
  }
  return value;
}

/** Redacts secrets inside text bodies: XML elements, form fields and JSON string members. */
export function redactText(text: string): string {
  return text
    .replace(
      /<((?:[\w-]+:)?(?:spPassword|Password|password|pin|token|Nonce))(\s[^>]*)?>[^<]*<\/\1>/g,
      (_m, tag: string, attrs: string | undefined) => `<${tag}${attrs ?? ""}>${REDACTED}</${tag}>`,
    )
    .replace(
      /("(?:[^"]*(?:password|secret|token|pin|cvc|api_key)[^"]*)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi,
      `$1"${REDACTED}"`,
    )
    .replace(/\b((?:password|client_secret|access_token|token|pin|api_key)=)[^&\s]*/gi, `$1${REDACTED}`)
    .replace(/("number"\s*:\s*")\d{8,15}(\d{4}")/g, "$1****$2");
}
