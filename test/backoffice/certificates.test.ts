/**
 * Client-certificate sign-in on the admin listener (mutual TLS): no certificate, another
 * authority's certificate, a revoked one and one we never recorded are refused; a valid one
 * signs its staff member in, and revoking it takes effect on the next request.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  type Authority,
  initAuthority,
  issue,
  loadAuthority,
  registerCertificate,
  revokeCertificate,
} from "../../src/certs/index.ts";
import { runCli } from "../../src/cli/index.ts";
import { ADMIN_KEY } from "../support/app.ts";
import { http, type LiveServer, startLiveServer } from "../support/server.ts";

let live: LiveServer;
let dir: string;
let otherDir: string;
let ours: Authority;
let caPem: string;
let staffId: string;
const EMAIL = "ops@centime.example";

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "centime-ca-"));
  otherDir = mkdtempSync(join(tmpdir(), "centime-other-ca-"));
  await initAuthority(dir, { hosts: ["localhost", "127.0.0.1"], nowMs: Date.now() });
  await initAuthority(otherDir, { hosts: ["localhost", "127.0.0.1"], nowMs: Date.now() });
  ours = await loadAuthority(dir);
  caPem = ours.certPem;
  live = await startLiveServer({ CENTIME_ADMIN_TLS_PORT: "0", CENTIME_ADMIN_CA_DIR: dir });
  const merchant = await http<{ merchant: { id: string } }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Pixel Forge",
  });
  const staff = await http<{ staff: { id: string } }>(live.url, "POST", "/v1/staff", ADMIN_KEY, {
    email: EMAIL,
    role: "support",
    merchant: merchant.body.merchant.id,
  });
  assert.equal(staff.status, 201);
  staffId = staff.body.staff.id;
});
after(async () => {
  await live?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(otherDir, { recursive: true, force: true });
});

function adminUrl(): URL {
  assert.ok(live.server.adminUrl, "the admin listener started");
  return new URL(live.server.adminUrl);
}

/** GET over the admin listener, trusting our CA, with or without a client certificate. */
function get(
  path: string,
  client?: { cert: string; key: string },
): Promise<{ status: number; location?: string; body: string }> {
  const url = adminUrl();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: "GET",
        ca: caPem,
        servername: "localhost",
        agent: false,
        ...(client ?? {}),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            ...(res.headers.location ? { location: res.headers.location } : {}),
            body,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function issued(authority: Authority, record: boolean) {
  const cert = await issue(authority, { commonName: EMAIL, days: 30, nowMs: Date.now(), usage: "client" });
  if (record) {
    await registerCertificate(
      live.server.services.db,
      { fingerprint: cert.fingerprint, staffId, serial: cert.serial, notAfter: cert.notAfter },
      Date.now(),
    );
  }
  return cert;
}

test("a client without a certificate never completes the handshake", async () => {
  await assert.rejects(get("/admin/payments"));
});

test("a certificate from another authority is refused by the handshake", async () => {
  const foreign = await issued(await loadAuthority(otherDir), false);
  await assert.rejects(get("/admin/payments", { cert: foreign.certPem, key: foreign.keyPem }));
});

test("a certificate of our authority that was never recorded signs nobody in", async () => {
  const unrecorded = await issued(ours, false);
  const r = await get("/admin/payments", { cert: unrecorded.certPem, key: unrecorded.keyPem });
  assert.equal(r.status, 403);
  assert.doesNotMatch(r.body, new RegExp(EMAIL));
});

test("a valid certificate signs its staff member in; revoked, it is refused at the next request", async () => {
  const cert = await issued(ours, true);
  const client = { cert: cert.certPem, key: cert.keyPem };
  const signedIn = await get("/admin/payments", client);
  assert.equal(signedIn.status, 200, signedIn.body.slice(0, 300));
  assert.match(signedIn.body, new RegExp(EMAIL));
  // Sign-in is not needed: the login page sends the certificate holder on.
  const login = await get("/admin/login", client);
  assert.equal(login.status, 303);
  // The admin listener serves the back office only, never the API.
  assert.equal((await get("/v1/payments", client)).status, 404);
  // The plain port knows nothing of certificates.
  const plain = await fetch(`${live.url}/admin/payments`, { redirect: "manual" });
  assert.equal(plain.status, 303);

  const revoked = await revokeCertificate(live.server.services.db, cert.serial, Date.now());
  assert.equal(revoked?.fingerprint, cert.fingerprint);
  const refused = await get("/admin/payments", client);
  assert.equal(refused.status, 403);
  assert.doesNotMatch(refused.body, new RegExp(EMAIL));
  // Revocation is in the audit log, by the console.
  const audit = await http<{ data: Array<{ action: string; actor: { id: string } }> }>(
    live.url,
    "GET",
    `/v1/audit_events?action=staff_certificates.revoke`,
    ADMIN_KEY,
  );
  assert.equal(audit.status, 200);
  assert.equal(audit.body.data.length, 1);
});

test("centime certs init creates an authority once and refuses to overwrite it", async () => {
  const fresh = mkdtempSync(join(tmpdir(), "centime-cli-ca-"));
  const previous = process.env.CENTIME_ADMIN_CA_DIR;
  process.env.CENTIME_ADMIN_CA_DIR = join(fresh, "ca");
  try {
    const out: string[] = [];
    const output = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
    assert.equal(await runCli(["certs", "init"], output), 0);
    assert.match(out.join(""), /Created the back office's certificate authority/);
    const authority = await loadAuthority(join(fresh, "ca"));
    assert.match(authority.cert.subject, /Centime back office CA/);
    assert.equal(await runCli(["certs", "init"], output), 2);
    assert.match(out.join(""), /already exists/);
  } finally {
    if (previous === undefined) delete process.env.CENTIME_ADMIN_CA_DIR;
    else process.env.CENTIME_ADMIN_CA_DIR = previous;
    rmSync(fresh, { recursive: true, force: true });
  }
});
