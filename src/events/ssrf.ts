import type { LookupAddress, LookupOptions } from "node:dns";
import { lookup as dnsLookup } from "node:dns";
import { isIP } from "node:net";
import { environmentValue } from "../platform/config.ts";

/**
 * The SSRF guard of webhook delivery. A merchant chooses the URL we POST to, so without a guard
 * they could make our servers reach the cloud metadata service, the database or anything else on
 * our private network. Rules:
 * - Only public unicast addresses are reached. The check runs on the address actually connected
 *   to (a custom `lookup` on the request), so a name that resolves to a public address when the
 *   endpoint is saved and to 127.0.0.1 at delivery (DNS rebinding) is still refused.
 * - Address literals are checked after the WHATWG URL parser has normalised them, which turns
 *   decimal, octal and hex forms (`http://2130706433/`, `http://0x7f.1/`) into dotted quads.
 * - Redirects are never followed (the sender does not implement them).
 * - Hosts named in `CENTIME_WEBHOOK_ALLOWED_HOSTS` skip the check, matched on the host as written in
 *   the URL, never on what a name resolves to.
 */

interface Cidr {
  base: bigint;
  bits: number;
}

function cidr4(text: string): Cidr {
  const [address, bits] = text.split("/");
  return { base: ipv4ToBigInt(address!)!, bits: Number(bits) };
}

function cidr6(text: string): Cidr {
  const [address, bits] = text.split("/");
  return { base: ipv6ToBigInt(address!)!, bits: Number(bits) };
}

/** Everything that is not public unicast IPv4 (RFC 6890 and friends). */
const BLOCKED_V4: readonly Cidr[] = [
  "0.0.0.0/8", // "this network", includes the unspecified address
  "10.0.0.0/8", // private
  "100.64.0.0/10", // carrier-grade NAT
  "127.0.0.0/8", // loopback
  "169.254.0.0/16", // link-local, cloud metadata services
  "172.16.0.0/12", // private
  "192.0.0.0/24", // IETF protocol assignments
  "192.0.2.0/24", // documentation
  "192.88.99.0/24", // 6to4 relay anycast
  "192.168.0.0/16", // private
  "198.18.0.0/15", // benchmarking
  "198.51.100.0/24", // documentation
  "203.0.113.0/24", // documentation
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, includes broadcast
].map(cidr4);

const BLOCKED_V6: readonly Cidr[] = [
  "::/96", // unspecified, loopback and the deprecated IPv4-compatible range
  "::ffff:0:0/96", // IPv4-mapped: refused whatever IPv4 address it carries
  "64:ff9b::/96", // NAT64, which could reach private IPv4 through a translator
  "64:ff9b:1::/48", // local-use NAT64
  "100::/64", // discard
  "2001:db8::/32", // documentation
  "2002::/16", // 6to4, which embeds an IPv4 address
  "fc00::/7", // unique local
  "fe80::/10", // link-local
  "fec0::/10", // site-local (deprecated)
  "ff00::/8", // multicast
].map(cidr6);

function ipv4ToBigInt(address: string): bigint | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function ipv6ToBigInt(address: string): bigint | undefined {
  let text = address;
  // An embedded dotted quad (`::ffff:127.0.0.1`) becomes two hextets.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    const v4 = ipv4ToBigInt(tail);
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(Number.parseInt(group, 16));
  }
  return value;
}

function inAny(value: bigint, width: number, ranges: readonly Cidr[]): boolean {
  return ranges.some(({ base, bits }) => {
    const shift = BigInt(width - bits);
    return value >> shift === base >> shift;
  });
}

/** True for any address that is not public unicast. Anything unparsable counts as blocked. */
export function isBlockedAddress(address: string): boolean {
  const bare = stripBrackets(address);
  const family = isIP(bare);
  if (family === 4) {
    const value = ipv4ToBigInt(bare);
    return value === undefined || inAny(value, 32, BLOCKED_V4);
  }
  if (family === 6) {
    const value = ipv6ToBigInt(bare.split("%")[0]!);
    return value === undefined || inAny(value, 128, BLOCKED_V6);
  }
  return true;
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The host of a URL as compared with the allow-list: lower case, no brackets, no trailing dot. */
export function normalizedHost(url: URL): string {
  return stripBrackets(url.hostname.toLowerCase()).replace(/\.$/, "");
}

/** `CENTIME_WEBHOOK_ALLOWED_HOSTS`: comma-separated host names or addresses. */
export function parseAllowedHosts(value: string | undefined): ReadonlySet<string> {
  const hosts = (value ?? "")
    .split(",")
    .map((h) => stripBrackets(h.trim().toLowerCase()).replace(/\.$/, ""))
    .filter((h) => h.length > 0);
  return new Set(hosts);
}

export function allowedHostsFromEnv(): ReadonlySet<string> {
  return parseAllowedHosts(environmentValue("CENTIME_WEBHOOK_ALLOWED_HOSTS"));
}

export class AddressBlockedError extends Error {
  readonly code = "ECENTIMEBLOCKED";
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`refusing to connect to ${host}: ${address} is not a public address`);
  }
}

/** Resolves a host name to its addresses; injectable so tests can play DNS. */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    );
  });

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for node:http(s) requests that resolves, then refuses the connection if any address
 * is not public. Checking every address (not just the first) means a name with one private
 * address is refused outright rather than sometimes reaching it.
 */
export function guardedLookup(resolver: Resolver, allowed: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolver(hostname).then(
      (addresses) => {
        const usable = addresses.filter((a) => !options.family || a.family === options.family);
        const blocked = usable.find((a) => isBlockedAddress(a.address));
        if (usable.length === 0) {
          const error: NodeJS.ErrnoException = new Error(`no address for ${hostname}`);
          error.code = "ENOTFOUND";
          callback(error, "");
        } else if (blocked && !allowed) {
          callback(new AddressBlockedError(hostname, blocked.address), "");
        } else if (options.all) {
          callback(null, usable);
        } else {
          const first = usable[0]!;
          callback(null, first.address, first.family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, ""),
    );
  };
}

/** Host names that resolve to the machine itself (RFC 6761 `localhost`, and common aliases). */
const LOCAL_NAMES = ["localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"];

export type UrlProblem = "invalid" | "scheme" | "https_required" | "credentials" | "address_blocked";

/**
 * Checks an endpoint URL when it is saved: http(s) only, https in live mode, no credentials, and
 * no private address literal (names are checked at each delivery, on what they resolve to).
 */
export function checkEndpointUrl(
  text: string,
  mode: "test" | "live",
  allowedHosts: ReadonlySet<string>,
): UrlProblem | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "invalid";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "scheme";
  if (mode === "live" && url.protocol !== "https:") return "https_required";
  if (url.username || url.password) return "credentials";
  const host = normalizedHost(url);
  if (allowedHosts.has(host)) return undefined;
  if (isIP(host) && isBlockedAddress(host)) return "address_blocked";
  // Names that always mean this machine (RFC 6761) are refused like 127.0.0.1, at once rather
  // than at every delivery.
  if (LOCAL_NAMES.some((name) => host === name || host.endsWith(`.${name}`))) return "address_blocked";
  return undefined;
}
