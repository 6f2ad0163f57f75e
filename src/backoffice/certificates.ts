import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { TLSSocket } from "node:tls";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { certificateFingerprint, listenerCredentials, staffForCertificate } from "../certs/index.ts";
import type { Queryable } from "../db/db.ts";
import type { StaffRow } from "../staff/index.ts";

/**
 * The certificate a request came with, when it came through the admin listener: the TLS layer
 * has checked that it chains to our authority (`rejectUnauthorized`), so only sockets it
 * authorized count. On the plain port there is never one.
 */
export function presentedFingerprint(request: FastifyRequest): string | null {
  const socket = request.raw.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  const peer = socket.getPeerCertificate();
  if (!peer?.raw) return null;
  return certificateFingerprint(new Uint8Array(peer.raw));
}

export type CertificateSignIn =
  | { kind: "none" }
  | { kind: "refused" }
  | { kind: "staff"; staff: StaffRow; fingerprint: string };

/** The staff member a request's certificate signs in, checked against revocation on every request. */
export async function certificateSignIn(
  db: Queryable,
  request: FastifyRequest,
  nowMs: number,
): Promise<CertificateSignIn> {
  const fingerprint = presentedFingerprint(request);
  if (!fingerprint) return { kind: "none" };
  const staff = await staffForCertificate(db, fingerprint, nowMs);
  return staff ? { kind: "staff", staff, fingerprint } : { kind: "refused" };
}

/** What the admin listener serves: the back office and its assets, nothing of the API. */
const SERVED = /^\/(admin|assets)(\/|\?|$)/;

export interface AdminListener {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * The admin listener (CENTIME_ADMIN_TLS_PORT): HTTPS with mutual TLS on its own port. A client
 * without a certificate, or with one from another authority, never completes the handshake.
 */
export async function startAdminListener(
  app: FastifyInstance,
  options: { host: string; port: number; caDir: string },
): Promise<AdminListener> {
  const credentials = listenerCredentials(options.caDir);
  await app.ready();
  const server = createServer(
    { ...credentials, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
    (req, res) => {
      if (!SERVED.test(req.url ?? "")) {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found");
        return;
      }
      app.routing(req, res);
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `https://${host}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
