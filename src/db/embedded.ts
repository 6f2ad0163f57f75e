import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import type { Db, Queryable, QueryResult } from "./db.ts";

const INT8_OID = 20;

export class DataDirectoryLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
  ) {
    super(
      `The embedded database in ${dataDir} is in use by process ${holderPid}. ` +
        "Stop that process, or point CENTIME_DATA_DIR at another directory.",
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * PGlite has no cross-process lock of its own: two processes on one data directory would corrupt
 * it. We hold a pid file created with O_EXCL; a file left by a dead process is taken over.
 */
const heldByThisProcess = new Set<string>();

function acquireLock(dataDir: string): () => void {
  const lockPath = join(dataDir, "centime.lock");
  // Our own pid in the file is ours only if this process opened it; otherwise it is left over
  // from an earlier process that had the same pid (pid 1 in every container run).
  if (heldByThisProcess.has(lockPath)) throw new DataDirectoryLockedError(dataDir, process.pid);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldByThisProcess.add(lockPath);
      return () => {
        heldByThisProcess.delete(lockPath);
        try {
          if (readFileSync(lockPath, "utf8").trim() === String(process.pid)) unlinkSync(lockPath);
        } catch {
          // Already gone.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number.parseInt(readFileSync(lockPath, "utf8").trim(), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new DataDirectoryLockedError(dataDir, holder);
      }
      try {
        unlinkSync(lockPath);
      } catch {
        // Another process took it over first; the next attempt will tell.
      }
    }
  }
  throw new Error(`could not take the lock on ${lockPath}`);
}

export interface EmbeddedOptions {
  /** A directory on disk, or undefined for an in-memory database (tests). */
  dataDir?: string;
  /** A data-directory dump to start from (tests load a migrated template instead of running initdb). */
  template?: Blob;
}

export interface EmbeddedDb extends Db {
  /** A gzipped dump of the data directory, loadable as a template. */
  dump(): Promise<Blob>;
}

export async function openEmbedded(options: EmbeddedOptions): Promise<EmbeddedDb> {
  let releaseLock = () => {};
  let pgDataDir: string | undefined;
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    releaseLock = acquireLock(options.dataDir);
    pgDataDir = join(options.dataDir, "pgdata");
  }
  let pglite: PGlite;
  try {
    pglite = await PGlite.create({
      ...(pgDataDir ? { dataDir: pgDataDir } : {}),
      ...(options.template ? { loadDataDir: options.template } : {}),
      parsers: { [INT8_OID]: (value: string) => BigInt(value) },
    });
  } catch (error) {
    releaseLock();
    throw error;
  }

  let closing: Promise<void> | undefined;
  const queryOn = async <Row>(target: Queryable | PGlite, sql: string, params?: readonly unknown[]) => {
    const result = await (target as PGlite).query<Row>(sql, params ? [...params] : undefined);
    // PGlite reports affectedRows 0 for a SELECT: a statement that returns rows counts its rows.
    const rowCount = result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? 0);
    return { rows: result.rows, rowCount } satisfies QueryResult<Row>;
  };

  return {
    kind: "embedded",
    writeConcurrencyMax: 1,
    query: (sql, params) => queryOn(pglite, sql, params),
    transaction: (work) =>
      pglite.transaction((tx) =>
        work({ query: (sql, params) => queryOn(tx as unknown as PGlite, sql, params) }),
      ),
    dump: () => pglite.dumpDataDir("gzip"),
    close() {
      closing ??= (async () => {
        try {
          await pglite.close();
        } finally {
          releaseLock();
        }
      })();
      return closing;
    },
  };
}
