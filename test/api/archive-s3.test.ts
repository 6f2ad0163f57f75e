/// <reference path="../../types/s3rver.d.ts" />
/**
 * The wire log's archive in an S3-compatible store (CENTIME_ARCHIVE_S3_*): blocks go to objects,
 * bodies read back through ranged GETs, retention removes whole days, and a store that refuses a
 * write leaves every body staged in the database. s3rver (an S3-compatible server on loopback)
 * stands in for the store; it checks access key ids but not Signature Version 4 itself, so the
 * signer is checked against the example AWS publishes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AwsClient } from "aws4fetch";
import S3rver from "s3rver";
import { S3ArchiveStore, type S3Settings } from "../../src/payments/index.ts";
import { InteractionArchive } from "../../src/payments/interaction-archive.ts";
import { configFromEnv } from "../../src/platform/config.ts";
import { newId } from "../../src/platform/ids.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";

const DAY_MS = 86_400_000;
let database: TestDatabase;
let server: S3rver;
let folder: string;
let settings: S3Settings;

before(async () => {
  database = await openTestDatabase();
  folder = mkdtempSync(join(tmpdir(), "centime-s3-"));
  server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: folder,
    allowMismatchedSignatures: false,
    configureBuckets: [{ name: "wire-log", configs: [] }],
  });
  const { port } = await server.run();
  settings = {
    endpoint: `http://127.0.0.1:${port}`,
    bucket: "wire-log",
    prefix: "centime/",
    region: "us-east-1",
    // s3rver's built-in account.
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  };
});
after(async () => {
  await server.close();
  await database.close();
  rmSync(folder, { recursive: true, force: true });
});

/** Interactions with bodies, `daysAgo` old: the trigger stages their bodies. */
async function record(
  count: number,
  daysAgo: number,
): Promise<Map<string, { request: unknown; response: unknown }>> {
  const at = Date.now() - daysAgo * DAY_MS;
  const bodies = new Map<string, { request: unknown; response: unknown }>();
  const rows = Array.from({ length: count }, (_, i) => {
    const id = newId("ix", at + i);
    const request = { msisdn: `+3361234${String(i).padStart(4, "0")}`, amount: 100 + i };
    const response = { status: "ok", reference: `ref-${daysAgo}-${i}` };
    bodies.set(id, { request, response });
    return {
      id,
      merchant_id: "mer_s3",
      mode: "test",
      provider: "carrier",
      operation: "camara.charge",
      request,
      response,
      outcome: "succeeded",
      latency_ms: 12,
      created: new Date(at + i).toISOString(),
    };
  });
  await database.db.query(
    "insert into provider_interactions select * from json_populate_recordset(null::provider_interactions, $1::json)",
    [JSON.stringify(rows)],
  );
  return bodies;
}

async function objectKeys(): Promise<string[]> {
  const client = new AwsClient({ accessKeyId: "S3RVER", secretAccessKey: "S3RVER", service: "s3" });
  const r = await client.fetch(`${settings.endpoint}/wire-log?list-type=2&prefix=centime/`);
  return [...(await r.text()).matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!);
}

async function staged(): Promise<number> {
  const { rows } = await database.db.query<{ n: number }>(
    "select count(*)::int as n from provider_interaction_bodies",
  );
  return rows[0]!.n;
}

test("the signer produces the signature of AWS's published example (GET object with a range)", async () => {
  // docs.aws.amazon.com, "Signature Calculations for the Authorization Header", example GET Object.
  const client = new AwsClient({
    accessKeyId: "AKIAIOSFODNN7EXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    service: "s3",
    region: "us-east-1",
  });
  const signed = await client.sign("https://examplebucket.s3.amazonaws.com/test.txt", {
    headers: {
      range: "bytes=0-9",
      "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
    aws: { datetime: "20130524T000000Z", allHeaders: true },
  });
  assert.equal(
    signed.headers.get("authorization"),
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
  );
});

test("blocks go to objects, every body reads back, and old days are removed whole", async () => {
  const old = await record(30, 3);
  const recent = await record(45, 0);
  const archive = new InteractionArchive(new S3ArchiveStore(settings));
  let moved = 0;
  for (
    let n = await archive.archiveBatch(database.db, 20);
    n > 0;
    n = await archive.archiveBatch(database.db, 20)
  )
    moved += n;
  assert.equal(moved, 75);
  assert.equal(await staged(), 0, "the bodies left the primary");

  const keys = await objectKeys();
  const { rows: blocks } = await database.db.query<{ file: string; offset: string }>(
    `select file, "offset"::text as "offset" from provider_interaction_archive`,
  );
  // One object per block, each at offset 0, under the prefix and the day of its rows.
  assert.deepEqual(keys.sort(), blocks.map((b) => `centime/${b.file}`).sort());
  assert.ok(blocks.every((b) => b.offset === "0"));
  assert.ok(blocks.every((b) => /^interactions\/\d{4}-\d{2}-\d{2}\/.+\.br$/.test(b.file)));

  // A fresh archive (another process, empty cache) reads every body through ranged GETs.
  const reader = new InteractionArchive(new S3ArchiveStore(settings));
  const { rows } = await database.db.query<{
    id: string;
    request: unknown;
    response: unknown;
    has_body: boolean;
  }>(
    "select id, request, response, has_body from provider_interactions where merchant_id = 'mer_s3' order by id",
  );
  const read = await reader.attachBodies(database.db, rows);
  const expected = new Map([...old, ...recent]);
  assert.equal(read.length, expected.size);
  for (const row of read)
    assert.deepEqual({ request: row.request, response: row.response }, expected.get(row.id));

  // Retention: the days before yesterday go, today's objects stay.
  const removed = await reader.removeDaysBefore(Date.now() - DAY_MS);
  assert.equal(removed, 1);
  const oldDay = new Date(Date.now() - 3 * DAY_MS).toISOString().slice(0, 10);
  const left = await objectKeys();
  assert.ok(left.length > 0);
  assert.ok(left.every((k) => !k.includes(`/${oldDay}/`)));
  assert.deepEqual(
    left.sort(),
    blocks
      .filter((b) => !b.file.includes(`/${oldDay}/`))
      .map((b) => `centime/${b.file}`)
      .sort(),
  );
});

test("a store that refuses the write (an unknown key) archives nothing: every body stays staged", async () => {
  await record(10, 0);
  const refused = new InteractionArchive(new S3ArchiveStore({ ...settings, accessKeyId: "NOBODY" }));
  await assert.rejects(refused.archiveBatch(database.db, 20), /answered 403 InvalidAccessKeyId/);
  assert.equal(await staged(), 10);
  const archive = new InteractionArchive(new S3ArchiveStore(settings));
  assert.equal(await archive.archiveBatch(database.db, 20), 10);
  assert.equal(await staged(), 0);
});

test("CENTIME_ARCHIVE_S3_ENDPOINT turns the store on and needs its bucket and keys", () => {
  const config = configFromEnv({
    CENTIME_ARCHIVE_S3_ENDPOINT: "https://s3.eu-west-3.amazonaws.com",
    CENTIME_ARCHIVE_S3_BUCKET: "wire",
    CENTIME_ARCHIVE_S3_PREFIX: "prod",
    CENTIME_ARCHIVE_S3_ACCESS_KEY_ID: "AKIA",
    CENTIME_ARCHIVE_S3_SECRET_ACCESS_KEY: "secret",
  });
  assert.equal(config.archiveS3?.prefix, "prod/");
  assert.equal(config.archiveS3?.region, "us-east-1");
  assert.equal(configFromEnv({}).archiveS3, undefined);
  assert.throws(
    () =>
      configFromEnv({ CENTIME_ARCHIVE_S3_ENDPOINT: "https://s3.example", CENTIME_ARCHIVE_S3_BUCKET: "b" }),
    /CENTIME_ARCHIVE_S3_ACCESS_KEY_ID is required/,
  );
  assert.throws(() => configFromEnv({ CENTIME_ARCHIVE_S3_ENDPOINT: "s3.example" }), /must be a base URL/);
});
