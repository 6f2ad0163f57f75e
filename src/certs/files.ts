import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * What a running platform needs of its certificate authority: the files' names, fingerprints and
 * the admin listener's credentials. None of it needs the certificate library, which only
 * `centime certs` and the authority's own functions load (authority.ts).
 */

/** The files of a local certificate authority directory (`centime certs init`). */
export const AUTHORITY_FILES = {
  caCert: "ca.pem",
  caKey: "ca-key.pem",
  serverCert: "server.pem",
  serverKey: "server-key.pem",
} as const;

/** SHA-256 of a certificate's DER encoding, lower-case hex. */
export function certificateFingerprint(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

export function authorityExists(dir: string): boolean {
  return existsSync(join(dir, AUTHORITY_FILES.caCert));
}

/** What the admin listener needs: the CA that client certificates must chain to, and its own pair. */
export function listenerCredentials(dir: string): { ca: string; cert: string; key: string } {
  if (!authorityExists(dir)) throw new Error(`no certificate authority in ${dir}: run centime certs init`);
  return {
    ca: readFileSync(join(dir, AUTHORITY_FILES.caCert), "utf8"),
    cert: readFileSync(join(dir, AUTHORITY_FILES.serverCert), "utf8"),
    key: readFileSync(join(dir, AUTHORITY_FILES.serverKey), "utf8"),
  };
}
