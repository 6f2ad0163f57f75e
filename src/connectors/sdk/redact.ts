/**
 * Removes secrets before anything reaches the interaction log, and changes nothing else: JSON
 * values are redacted by key (the body keeps its structure, byte for byte elsewhere), URL query
 * and form parameters by name, XML elements by name, and an Authorization header keeps its scheme
 * (`Bearer [redacted]`) so the timeline shows how a call was authenticated.
 */

export const REDACTED = "[redacted]";

const SECRET_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "x-api-key",
  "api-key",
  "cookie",
  "set-cookie",
  "x-signature",
]);

/** Keys (compared without case, `_` or `-`) whose values are secrets, or that end like one. */
const SECRET_NAMES = new Set([
  "pass",
  "passwd",
  "password",
  "secret",
  "token",
  "pin",
  "otp",
  "cvc",
  "cvv",
  "apikey",
  "authorization",
  "signature",
  "nonce",
]);
const SECRET_ENDINGS = ["password", "secret", "token", "apikey", "pin", "otp"];
const CARD_KEYS = new Set(["number", "pan", "cardnumber"]);

function normalised(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, "");
}

export function isSecretKey(key: string, extra: readonly string[] = []): boolean {
  const k = normalised(key);
  return SECRET_NAMES.has(k) || SECRET_ENDINGS.some((e) => k.endsWith(e)) || extra.includes(key);
}

export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!SECRET_HEADERS.has(name.toLowerCase())) out[name] = value;
    else if (name.toLowerCase().endsWith("authorization") && /^[A-Za-z][\w-]* \S/.test(value))
      out[name] = `${value.slice(0, value.indexOf(" "))} ${REDACTED}`;
    else out[name] = REDACTED;
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
      if (isSecretKey(key)) out[key] = REDACTED;
      else if (CARD_KEYS.has(normalised(key)) && typeof v === "string") out[key] = `****${v.slice(-4)}`;
      else out[key] = redactValue(v, depth + 1);
    }
    return out;
  }
  return value;
}

/** `name=value` pairs in a query string or form body, redacted by name; everything else kept. */
export function redactParams(text: string, extra: readonly string[] = []): string {
  return text.replace(/(^|[?&\s])([^=&?#\s"]+)=([^&#\s"\\]*)/g, (m, sep: string, name: string) => {
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {}
    return isSecretKey(decoded, extra) ? `${sep}${name}=${REDACTED}` : m;
  });
}

/** Redacts a text body: JSON by key when it is JSON, else XML elements and form parameters. */
export function redactText(text: string, extra: readonly string[] = []): string {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    const json = redactJson(text, extra);
    if (json !== undefined) return json;
  }
  return redactParams(
    text
      .replace(
        /<((?:[\w-]+:)?(?:spPassword|Password|password|pin|token|Nonce))(\s[^>]*)?>[^<]*<\/\1>/g,
        (_m, tag: string, attrs: string | undefined) => `<${tag}${attrs ?? ""}>${REDACTED}</${tag}>`,
      )
      // JSON members inside a text that is not JSON as a whole: the string value only, by key.
      .replace(/("((?:[^"\\]|\\.)*)"\s*:\s*)"(?:[^"\\]|\\.)*"/g, (m, head: string, key: string) =>
        isSecretKey(key, extra) ? `${head}"${REDACTED}"` : m,
      ),
    extra,
  );
}

/**
 * Walks JSON text and replaces, in place, the value of each secret key (with `"[redacted]"`) and
 * secret query parameters inside string values (a callback URL's token); undefined if not JSON.
 */
export function redactJson(text: string, extra: readonly string[] = []): string | undefined {
  let out = "";
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError("not json");
  };
  const ws = () => {
    const start = i;
    while (i < text.length && " \t\n\r".includes(text[i] as string)) i++;
    out += text.slice(start, i);
  };
  const readString = (): string => {
    if (text[i] !== '"') fail();
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail();
    i++;
    return text.slice(start, i);
  };
  /** Copies (or replaces) one value starting at i. */
  const value = (mode: "copy" | "secret" | "card", depth: number): void => {
    if (depth > 64) fail();
    ws();
    const c = text[i];
    if (c === "{" || c === "[") {
      if (mode === "secret") {
        skipComposite();
        out += `"${REDACTED}"`;
        return;
      }
      composite(depth);
      return;
    }
    if (c === '"') {
      const raw = readString();
      if (mode === "secret") out += `"${REDACTED}"`;
      else if (mode === "card" && /^"\d{12,19}"$/.test(raw)) out += `"****${raw.slice(-5, -1)}"`;
      else out += redactParams(raw, extra);
      return;
    }
    const start = i;
    while (i < text.length && !",}] \t\n\r".includes(text[i] as string)) i++;
    if (i === start) fail();
    const token = text.slice(start, i);
    if (!/^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)$/.test(token)) fail();
    out += mode === "secret" ? `"${REDACTED}"` : token;
  };
  const skipComposite = () => {
    const saved = out;
    composite(0);
    out = saved;
  };
  const composite = (depth: number) => {
    const open = text[i] as string;
    const close = open === "{" ? "}" : "]";
    out += open;
    i++;
    ws();
    if (text[i] === close) {
      out += close;
      i++;
      return;
    }
    for (;;) {
      if (open === "{") {
        const rawKey = readString();
        out += rawKey;
        ws();
        if (text[i] !== ":") fail();
        out += ":";
        i++;
        const key = JSON.parse(rawKey) as string;
        value(
          isSecretKey(key, extra) ? "secret" : CARD_KEYS.has(normalised(key)) ? "card" : "copy",
          depth + 1,
        );
      } else value("copy", depth + 1);
      ws();
      if (text[i] === ",") {
        out += ",";
        i++;
        ws();
        continue;
      }
      if (text[i] === close) {
        out += close;
        i++;
        return;
      }
      fail();
    }
  };
  try {
    ws();
    value("copy", 0);
    ws();
    if (i !== text.length) fail();
    return out;
  } catch {
    return undefined;
  }
}
