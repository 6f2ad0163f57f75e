import type { Db, Queryable } from "../../../src/db/db.ts";

/** Time per statement (its first 60 characters), for finding where a simulation or bench spends it. */
export const statementMs = new Map<string, number>();

export function profiled(db: Db): Db {
  const wrap = (q: Queryable): Queryable => ({
    async query(sql, params) {
      const t0 = performance.now();
      try {
        return await q.query(sql, params);
      } finally {
        const key = sql.replace(/\s+/g, " ").slice(0, 60);
        statementMs.set(key, (statementMs.get(key) ?? 0) + performance.now() - t0);
      }
    },
  });
  return {
    kind: db.kind,
    writeConcurrencyMax: db.writeConcurrencyMax,
    query: wrap(db).query,
    transaction: (work) => db.transaction((tx) => work(wrap(tx))),
    close: () => db.close(),
  };
}

export function printProfile(write: (line: string) => void, top = 20): void {
  for (const [sql, ms] of [...statementMs.entries()].sort((a, b) => b[1] - a[1]).slice(0, top))
    write(`${ms.toFixed(0).padStart(7)} ms  ${sql}`);
}
