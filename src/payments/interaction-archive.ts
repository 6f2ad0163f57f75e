import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { promisify } from "node:util";
import { brotliCompress, brotliDecompress, constants as zlib } from "node:zlib";
import type { Db, Queryable } from "../db/db.ts";
import { rowsToJson } from "../db/rows.ts";
import type { Logger } from "../platform/log.ts";
import { type ArchiveStore, DiskArchiveStore } from "./archive-store.ts";

const compress = promisify(brotliCompress);
const decompress = promisify(brotliDecompress);

/** Bodies moved per block (one compressed block of a daily file per batch and day). */
export const ARCHIVE_BATCH_ROWS = 2_000;
const BLOCK_CACHE_MAX = 16;
/** Blocks tried first for an id: those just after it in last_id order (a late row is archived soon after its id's time). */
const NEAR_BLOCKS = 16;

/**
 * Brotli from node:zlib: no dependency and no native build. The zstd bindings for Node 20 fetch
 * a prebuilt binary from outside the npm registry at install time (or compile zstd), which this
 * project's machines and CI cannot do; Node 22.15+ has zstd in node:zlib, and `codec` is stored
 * per block so a later writer can switch while old blocks stay readable.
 */
const CODEC = "br";
const BROTLI_OPTIONS = {
  params: {
    [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
    [zlib.BROTLI_PARAM_QUALITY]: 7,
    [zlib.BROTLI_PARAM_LGWIN]: 22,
  },
};

interface StagedRow {
  id: string;
  created: Date;
  request: string | null;
  response: string | null;
}

interface BlockRef {
  file: string;
  offset: string | bigint | number;
  length: number;
  codec: string;
}

export interface Bodies {
  request: unknown;
  response: unknown;
}

/** A row of the interaction log as read from provider_interactions. */
export interface InteractionBodyRow {
  id: string;
  request: unknown;
  response: unknown;
  has_body?: boolean | null;
}

function dayOf(created: Date): string {
  return created.toISOString().slice(0, 10);
}

/**
 * The compressed daily archive of interaction bodies. `archiveBatch` moves staged bodies from
 * the primary into a file of this process (one writer per file, so several workers never
 * interleave appends), fsyncs it, then records the block and deletes the staged rows in one
 * transaction. `attachBodies` puts the bodies back on rows read from provider_interactions:
 * staged ones from the table, archived ones from their block.
 */
export class InteractionArchive {
  private readonly writer =
    `${hostname().replace(/[^A-Za-z0-9-]/g, "_")}-${process.pid}-${randomBytes(3).toString("hex")}`;
  private readonly cache = new Map<string, Map<string, Bodies>>();
  readonly store: ArchiveStore;

  /** `store`: a folder on disk (by its path) or an S3-compatible store. */
  constructor(
    store: ArchiveStore | string,
    private readonly logger?: Logger,
  ) {
    this.store = typeof store === "string" ? new DiskArchiveStore(store) : store;
  }

  /** Moves up to `limit` staged bodies (oldest ids first) into the archive; returns how many. */
  async archiveBatch(
    db: Db,
    limit = ARCHIVE_BATCH_ROWS,
    /** Tests: called once a block is on disk and before the transaction commits (a crash there). */
    afterDurableWrite?: () => void,
  ): Promise<number> {
    return db.transaction(async (tx) => {
      // Several workers archive side by side: each takes rows the others have not locked.
      const { rows } = await tx.query<StagedRow>(
        `select id, created, request::text as request, response::text as response
         from provider_interaction_bodies order by id limit $1 for update skip locked`,
        [limit],
      );
      if (rows.length === 0) return 0;
      const byDay = new Map<string, StagedRow[]>();
      for (const row of rows) {
        const day = dayOf(row.created);
        const list = byDay.get(day);
        if (list) list.push(row);
        else byDay.set(day, [row]);
      }
      const blocks: Array<Record<string, unknown>> = [];
      for (const [day, dayRows] of byDay) {
        const text = dayRows
          .map(
            (r) =>
              `{"id":${JSON.stringify(r.id)},"request":${r.request ?? "null"},"response":${r.response ?? "null"}}`,
          )
          .join("\n");
        const block = await compress(Buffer.from(text, "utf8"), BROTLI_OPTIONS);
        const { file, offset } = await this.store.put(day, `${this.writer}.${CODEC}`, block);
        afterDurableWrite?.();
        blocks.push({
          file,
          offset: String(offset),
          length: block.length,
          codec: CODEC,
          first_id: dayRows[0]!.id,
          last_id: dayRows[dayRows.length - 1]!.id,
          rows: dayRows.length,
          created: new Date().toISOString(),
        });
      }
      // Only now, with the bytes on disk, do the bodies leave the primary.
      await tx.query(
        `insert into provider_interaction_archive
         select * from json_populate_recordset(null::provider_interaction_archive, $1::json)`,
        [rowsToJson(blocks)],
      );
      await tx.query("delete from provider_interaction_bodies where id = any($1::text[])", [
        rows.map((r) => r.id),
      ]);
      return rows.length;
    });
  }

  /** Removes the archive's days before a day (their metadata partitions are dropped). */
  removeDaysBefore(dayMs: number): Promise<number> {
    return this.store.removeDaysBefore(new Date(dayMs).toISOString().slice(0, 10));
  }

  /** The bodies of these rows, from the staging table or the archive, put back on the rows. */
  async attachBodies<T extends InteractionBodyRow>(db: Queryable, rows: T[]): Promise<T[]> {
    const wanted = rows.filter((r) => r.has_body === true).map((r) => r.id);
    if (wanted.length === 0) return rows;
    const found = new Map<string, Bodies>();
    const staged = await db.query<{ id: string; request: unknown; response: unknown }>(
      "select id, request, response from provider_interaction_bodies where id = any($1::text[])",
      [wanted],
    );
    for (const r of staged.rows) found.set(r.id, { request: r.request, response: r.response });
    let missing = wanted.filter((id) => !found.has(id));
    if (missing.length > 0) {
      const near = await db.query<BlockRef>(
        `select distinct a.file, a."offset", a.length, a.codec
         from unnest($1::text[]) as x(id)
         cross join lateral (
           select * from provider_interaction_archive b
           where b.last_id >= x.id order by b.last_id limit ${NEAR_BLOCKS}) a
         where a.first_id <= x.id`,
        [missing],
      );
      await this.readBlocks(near.rows, missing, found);
      missing = missing.filter((id) => !found.has(id));
    }
    if (missing.length > 0) {
      // Rare: a row archived long after its id's time. Every block that covers it.
      const all = await db.query<BlockRef>(
        `select distinct a.file, a."offset", a.length, a.codec
         from provider_interaction_archive a join unnest($1::text[]) as x(id)
           on a.first_id <= x.id and a.last_id >= x.id`,
        [missing],
      );
      await this.readBlocks(all.rows, missing, found);
    }
    return rows.map((r) => {
      if (r.has_body !== true) return r;
      const bodies = found.get(r.id);
      return { ...r, request: bodies?.request ?? null, response: bodies?.response ?? null };
    });
  }

  private async readBlocks(blocks: BlockRef[], ids: string[], found: Map<string, Bodies>): Promise<void> {
    const want = new Set(ids);
    for (const ref of blocks) {
      let block: Map<string, Bodies>;
      try {
        block = await this.readBlock(ref);
      } catch (error) {
        this.logger?.error(
          { err: error, file: ref.file, offset: String(ref.offset) },
          "archive block unreadable",
        );
        continue;
      }
      for (const id of want) {
        const bodies = block.get(id);
        if (bodies) found.set(id, bodies);
      }
    }
  }

  private async readBlock(ref: BlockRef): Promise<Map<string, Bodies>> {
    const key = `${ref.file}@${ref.offset}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    if (ref.codec !== CODEC) throw new Error(`unknown archive codec ${ref.codec}`);
    const raw = await this.store.read(ref.file, Number(ref.offset), ref.length);
    const text = (await decompress(raw)).toString("utf8");
    const block = new Map<string, Bodies>();
    for (const line of text.split("\n")) {
      const entry = JSON.parse(line) as { id: string; request: unknown; response: unknown };
      block.set(entry.id, { request: entry.request, response: entry.response });
    }
    if (this.cache.size >= BLOCK_CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, block);
    return block;
  }
}
