/**
 * The back office's own certificate authority: `centime certs init|issue|revoke|list` creates it,
 * issues staff client certificates, records them by fingerprint and revokes them; the admin
 * listener (mutual TLS) signs a certificate's holder in.
 *
 * The certificate library (@peculiar/x509, with reflect-metadata) is loaded by the first call
 * that makes or reads a certificate, not at start: a running platform only needs the files and
 * the registry, and loading the library was about 130 ms of every start.
 */
import type * as AuthorityModule from "./authority.ts";

export type { Authority, IssuedCertificate } from "./authority.ts";
export { AUTHORITY_FILES, authorityExists, certificateFingerprint, listenerCredentials } from "./files.ts";
export {
  type CertificateRow,
  listCertificates,
  registerCertificate,
  revokeCertificate,
  staffByEmail,
  staffForCertificate,
} from "./registry.ts";

const authority = (): Promise<typeof AuthorityModule> => import("./authority.ts");

export async function initAuthority(
  ...args: Parameters<typeof AuthorityModule.initAuthority>
): ReturnType<typeof AuthorityModule.initAuthority> {
  return (await authority()).initAuthority(...args);
}

export async function loadAuthority(
  ...args: Parameters<typeof AuthorityModule.loadAuthority>
): ReturnType<typeof AuthorityModule.loadAuthority> {
  return (await authority()).loadAuthority(...args);
}

export async function issue(
  ...args: Parameters<typeof AuthorityModule.issue>
): ReturnType<typeof AuthorityModule.issue> {
  return (await authority()).issue(...args);
}
