import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { AwsClient } from "aws4fetch";
import { XMLParser } from "fast-xml-parser";
import type { Config } from "../platform/config.ts";

/** Where a block was written: a file (or object) and the byte offset of the block in it. */
export interface BlockPlace {
  file: string;
  offset: number;
}

/**
 * Where the wire log's compressed blocks live. `put` resolves only once the block is durable (the
 * caller then commits the rows that point at it); `read` fetches one block by its recorded place.
 * Files are named `interactions/<day>/…` so that retention removes whole days.
 */
export interface ArchiveStore {
  readonly description: string;
  put(day: string, writer: string, block: Buffer): Promise<BlockPlace>;
  read(file: string, offset: number, length: number): Promise<Buffer>;
  /** Removes every day before `day` (YYYY-MM-DD); returns how many days went. */
  removeDaysBefore(day: string): Promise<number>;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A folder on disk (shared by every worker): one file per writer and day, blocks appended, each
 * append fsynced (and the folder, when the file is new) before `put` resolves.
 */
export class DiskArchiveStore implements ArchiveStore {
  private readonly knownDirs = new Set<string>();

  constructor(readonly dir: string) {}

  get description(): string {
    return this.dir;
  }

  async put(day: string, writer: string, block: Buffer): Promise<BlockPlace> {
    const file = `interactions/${day}/${writer}`;
    const path = join(this.dir, file);
    const folder = dirname(path);
    const newFolder = !this.knownDirs.has(folder);
    if (newFolder) await mkdir(folder, { recursive: true });
    const handle = await open(path, "a");
    try {
      const { size } = await handle.stat();
      await handle.write(block, 0, block.length);
      await handle.sync();
      if (newFolder || size === 0) await syncDir(folder);
      this.knownDirs.add(folder);
      return { file, offset: size };
    } finally {
      await handle.close();
    }
  }

  async read(file: string, offset: number, length: number): Promise<Buffer> {
    const handle = await open(join(this.dir, file), "r");
    try {
      const raw = Buffer.alloc(length);
      const { bytesRead } = await handle.read(raw, 0, length, offset);
      if (bytesRead !== length) throw new Error(`archive block truncated (${bytesRead} of ${length} bytes)`);
      return raw;
    } finally {
      await handle.close();
    }
  }

  async removeDaysBefore(day: string): Promise<number> {
    const root = join(this.dir, "interactions");
    let entries: string[];
    try {
      entries = await readdir(root);
    } catch {
      return 0;
    }
    const old = entries.filter((d) => DAY.test(d) && d < day);
    for (const d of old) await rm(join(root, d), { recursive: true, force: true });
    return old.length;
  }
}

/** A new file's directory entry is durable only once its directory is fsynced. */
async function syncDir(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Endpoint (base URL), bucket, key prefix, region and keys: CENTIME_ARCHIVE_S3_* (platform/config.ts). */
export type S3Settings = NonNullable<Config["archiveS3"]>;

/** Object deletions in flight at once when a day is removed. */
const DELETE_CONCURRENCY = 8;

/**
 * An S3-compatible object store (AWS S3, MinIO, Ceph, R2…), path-style URLs, requests signed
 * with AWS Signature Version 4 by aws4fetch. Objects cannot be appended to, so each block is an
 * object of its own (offset 0); a PUT answered 200 is durable. Retention lists a day's objects and
 * deletes them; a bucket lifecycle rule on the `interactions/` prefix can do the same for free.
 */
export class S3ArchiveStore implements ArchiveStore {
  private readonly client: AwsClient;
  private readonly bucketUrl: string;
  private readonly xml = new XMLParser({
    isArray: (name) => name === "Contents" || name === "CommonPrefixes",
  });
  private sequence = 0;

  constructor(private readonly settings: S3Settings) {
    this.client = new AwsClient({
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
      region: settings.region,
      service: "s3",
      retries: 3,
    });
    this.bucketUrl = `${settings.endpoint.replace(/\/+$/, "")}/${encodeURIComponent(settings.bucket)}`;
  }

  get description(): string {
    return `${this.bucketUrl}/${this.settings.prefix}`;
  }

  private objectUrl(key: string): string {
    const path = `${this.settings.prefix}${key}`.split("/").map(encodeURIComponent).join("/");
    return `${this.bucketUrl}/${path}`;
  }

  async put(day: string, writer: string, block: Buffer): Promise<BlockPlace> {
    // Unique per block: the writer names the process, the sequence and random part the block.
    this.sequence += 1;
    const dot = writer.lastIndexOf(".");
    const [name, extension] = dot > 0 ? [writer.slice(0, dot), writer.slice(dot)] : [writer, ""];
    const file = `interactions/${day}/${name}-${this.sequence}-${randomBytes(4).toString("hex")}${extension}`;
    const response = await this.client.fetch(this.objectUrl(file), {
      method: "PUT",
      body: block,
      headers: { "content-type": "application/octet-stream" },
    });
    await expectOk(response, `PUT ${file}`);
    return { file, offset: 0 };
  }

  async read(file: string, offset: number, length: number): Promise<Buffer> {
    const response = await this.client.fetch(this.objectUrl(file), {
      headers: { range: `bytes=${offset}-${offset + length - 1}` },
    });
    await expectOk(response, `GET ${file}`);
    const body = Buffer.from(await response.arrayBuffer());
    if (body.length !== length)
      throw new Error(`archive block truncated (${body.length} of ${length} bytes)`);
    return body;
  }

  async removeDaysBefore(day: string): Promise<number> {
    const root = `${this.settings.prefix}interactions/`;
    const days = (await this.list(root, "/")).prefixes
      .map((p) => p.slice(root.length).replace(/\/$/, ""))
      .filter((d) => DAY.test(d) && d < day);
    for (const d of days) {
      const keys = (await this.list(`${root}${d}/`)).keys;
      for (let i = 0; i < keys.length; i += DELETE_CONCURRENCY) {
        await Promise.all(
          keys.slice(i, i + DELETE_CONCURRENCY).map(async (key) => {
            const url = `${this.bucketUrl}/${key.split("/").map(encodeURIComponent).join("/")}`;
            const response = await this.client.fetch(url, { method: "DELETE" });
            await expectOk(response, `DELETE ${key}`);
          }),
        );
      }
    }
    return days.length;
  }

  /** ListObjectsV2, every page: full keys and, with a delimiter, the common prefixes. */
  private async list(prefix: string, delimiter?: string): Promise<{ keys: string[]; prefixes: string[] }> {
    const keys: string[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      const query = new URLSearchParams({ "list-type": "2", prefix });
      if (delimiter) query.set("delimiter", delimiter);
      if (token) query.set("continuation-token", token);
      const response = await this.client.fetch(`${this.bucketUrl}?${query}`);
      await expectOk(response, `LIST ${prefix}`);
      const page = this.xml.parse(await response.text()).ListBucketResult as {
        Contents?: Array<{ Key: string }>;
        CommonPrefixes?: Array<{ Prefix: string }>;
        IsTruncated?: boolean | string;
        NextContinuationToken?: string;
      };
      for (const c of page.Contents ?? []) keys.push(String(c.Key));
      for (const p of page.CommonPrefixes ?? []) prefixes.push(String(p.Prefix));
      token = String(page.IsTruncated) === "true" ? page.NextContinuationToken : undefined;
    } while (token);
    return { keys, prefixes };
  }
}

async function expectOk(response: Response, what: string): Promise<void> {
  if (response.ok) return;
  const text = await response.text().catch(() => "");
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? "";
  throw new Error(`archive store: ${what} answered ${response.status} ${code}`.trim());
}
