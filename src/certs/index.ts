/**
 * The back office's own certificate authority: `centime certs init|issue|revoke|list` creates it,
 * issues staff client certificates, records them by fingerprint and revokes them; the admin
 * listener (mutual TLS) signs a certificate's holder in.
 */
export {
  AUTHORITY_FILES,
  type Authority,
  authorityExists,
  certificateFingerprint,
  type IssuedCertificate,
  initAuthority,
  issue,
  listenerCredentials,
  loadAuthority,
} from "./authority.ts";
export {
  type CertificateRow,
  listCertificates,
  registerCertificate,
  revokeCertificate,
  staffByEmail,
  staffForCertificate,
} from "./registry.ts";
