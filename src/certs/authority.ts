// The certificate library resolves its parts through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { randomBytes, webcrypto } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { AUTHORITY_FILES, authorityExists, certificateFingerprint } from "./files.ts";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
// The library's types are the DOM's; node's webcrypto is the same API.
// biome-ignore lint/suspicious/noExplicitAny: bridging node's webcrypto types to the DOM's
const dom = (value: unknown): any => value;

x509.cryptoProvider.set(dom(webcrypto));

const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the certificate's DER, lower-case hex: how the admin listener knows it. */
  fingerprint: string;
  serial: string;
  notAfter: Date;
}

function randomSerial(): string {
  // Positive, 16 bytes: unguessable and unique without a counter.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

async function keyPem(key: CryptoKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0]!;
  return webcrypto.subtle.importKey("pkcs8", der, EC, false, ["sign"]);
}

function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

function newKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC, true, ["sign", "verify"]);
}

export interface Authority {
  cert: x509.X509Certificate;
  certPem: string;
  key: CryptoKey;
}

/**
 * Creates the authority (a self-signed P-256 CA, 10 years) and the admin listener's own server
 * certificate for `hosts` (names or addresses), in `dir`. Refuses to overwrite an existing one:
 * every certificate it issued would stop working.
 */
export async function initAuthority(
  dir: string,
  options: { hosts: string[]; name?: string; nowMs: number },
): Promise<{ caFingerprint: string; serverFingerprint: string }> {
  if (authorityExists(dir)) throw new Error(`a certificate authority already exists in ${dir}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = await newKeys();
  const notBefore = new Date(options.nowMs - 60_000);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${options.name ?? "Centime back office CA"}`,
    notBefore,
    notAfter: new Date(options.nowMs + 3650 * DAY_MS),
    signingAlgorithm: SIGNING,
    keys: dom(keys),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(dom(keys.publicKey)),
    ],
  });
  writeSecret(join(dir, AUTHORITY_FILES.caKey), await keyPem(keys.privateKey));
  writeFileSync(join(dir, AUTHORITY_FILES.caCert), ca.toString("pem"));
  const authority: Authority = { cert: ca, certPem: ca.toString("pem"), key: keys.privateKey };
  const server = await issue(authority, {
    commonName: options.hosts[0] ?? "localhost",
    days: 825,
    nowMs: options.nowMs,
    usage: "server",
    hosts: options.hosts,
  });
  writeSecret(join(dir, AUTHORITY_FILES.serverKey), server.keyPem);
  writeFileSync(join(dir, AUTHORITY_FILES.serverCert), server.certPem);
  return {
    caFingerprint: certificateFingerprint(new Uint8Array(ca.rawData)),
    serverFingerprint: server.fingerprint,
  };
}

export async function loadAuthority(dir: string): Promise<Authority> {
  if (!authorityExists(dir)) throw new Error(`no certificate authority in ${dir}: run centime certs init`);
  const certPem = readFileSync(join(dir, AUTHORITY_FILES.caCert), "utf8");
  return {
    cert: new x509.X509Certificate(certPem),
    certPem,
    key: await importKey(readFileSync(join(dir, AUTHORITY_FILES.caKey), "utf8")),
  };
}

/** Issues a key pair and a certificate signed by the authority: a staff member's, or a server's. */
export async function issue(
  authority: Authority,
  options: { commonName: string; days: number; nowMs: number; usage: "client" | "server"; hosts?: string[] },
): Promise<IssuedCertificate> {
  const keys = await newKeys();
  const notAfter = new Date(options.nowMs + options.days * DAY_MS);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(
      [options.usage === "client" ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth],
      false,
    ),
    await x509.AuthorityKeyIdentifierExtension.create(authority.cert),
  ];
  if (options.hosts?.length) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        options.hosts.map((h) => ({ type: isIP(h) ? ("ip" as const) : ("dns" as const), value: h })),
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${options.commonName.replace(/[,=+<>#;"\\]/g, " ")}`,
    issuer: authority.cert.subject,
    notBefore: new Date(options.nowMs - 60_000),
    notAfter,
    signingAlgorithm: SIGNING,
    publicKey: dom(keys.publicKey),
    signingKey: dom(authority.key),
    extensions,
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: await keyPem(keys.privateKey),
    fingerprint: certificateFingerprint(new Uint8Array(cert.rawData)),
    serial: cert.serialNumber.toLowerCase(),
    notAfter,
  };
}
