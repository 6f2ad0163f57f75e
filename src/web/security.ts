import type { FastifyReply } from "fastify";

/** What a page may load and who may frame it. Everything else is refused by the browser. */
export interface PagePolicy {
  /** Origins allowed to frame the page (an app's `allowed_origins`); none by default. */
  frameAncestors?: readonly string[];
  /** Extra origins forms may post to (a card provider's form). */
  formAction?: readonly string[];
  /** Extra origins to frame inside the page (a card provider's hosted fields). */
  frameSrc?: readonly string[];
}

/**
 * A strict Content-Security-Policy: scripts and styles from our own origin only (no inline code,
 * no eval), no plugins, no base-tag tricks, and framing only by the origins named.
 */
export function contentSecurityPolicy(policy: PagePolicy = {}): string {
  const ancestors = policy.frameAncestors?.length ? policy.frameAncestors.join(" ") : "'none'";
  const directives = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    `form-action 'self'${policy.formAction?.length ? ` ${policy.formAction.join(" ")}` : ""}`,
    `frame-src ${policy.frameSrc?.length ? policy.frameSrc.join(" ") : "'none'"}`,
    `frame-ancestors ${ancestors}`,
    "base-uri 'none'",
    "object-src 'none'",
  ];
  return directives.join("; ");
}

/** The headers every HTML page carries. */
export function applyPageHeaders(reply: FastifyReply, policy: PagePolicy = {}): void {
  reply.header("content-security-policy", contentSecurityPolicy(policy));
  // Old browsers ignore frame-ancestors; X-Frame-Options can only say "nobody".
  if (!policy.frameAncestors?.length) reply.header("x-frame-options", "DENY");
  reply.header("x-content-type-options", "nosniff");
  reply.header("referrer-policy", "same-origin");
  reply.header("cross-origin-opener-policy", "same-origin");
  reply.header("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()");
  reply.header("cache-control", "no-store");
}
