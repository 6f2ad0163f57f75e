import { detachedFromRequest } from "../audit/index.ts";
import type { Queryable } from "../db/db.ts";
import type { ListParams } from "../db/pages.ts";
import { listPage } from "../db/pages.ts";
import { DAY_MS } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope } from "../platform/scope.ts";
import { presentTestClock, type TestClockRow } from "./model.ts";
import { type BillingContext, runDueBilling } from "./scheduler.ts";
import { insertInto } from "./sql.ts";

/**
 * Test clocks (test mode only): customers created with a clock, and their subscriptions, live on
 * the clock's frozen time. Advancing a clock runs every due charge up to the new time, each at
 * its own due time (so windows, caps and retries behave as they would in real time); the clock
 * is `advancing` until that is done, then `ready`.
 */

/** How far one advance may go. */
export const TEST_CLOCK_ADVANCE_MAX_MS = 2 * 366 * DAY_MS;

function requireTestMode(scope: AuthScope): void {
  if (scope.mode !== "test")
    throw new ApiError("live_mode_unavailable", undefined, "Test clocks exist in test mode only.");
}

async function load(q: Queryable, scope: AuthScope, id: string): Promise<TestClockRow> {
  const { rows } = await q.query<TestClockRow>(
    "select * from test_clocks where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  if (!rows[0]) throw new ApiError("resource_missing", "id", `No such test clock: '${id}'.`);
  return rows[0];
}

export async function createTestClock(
  ctx: BillingContext,
  q: Queryable,
  scope: AuthScope,
  input: { frozen_time: string; name?: string },
) {
  requireTestMode(scope);
  const frozenMs = Date.parse(input.frozen_time);
  if (Number.isNaN(frozenMs))
    throw new ApiError("parameter_invalid", "frozen_time", "frozen_time must be an ISO 8601 date-time.");
  const nowMs = ctx.clock.nowMs();
  const row: TestClockRow = {
    id: newId("clock", nowMs),
    merchant_id: scope.merchantId,
    mode: scope.mode,
    name: input.name ?? null,
    frozen_time: new Date(frozenMs),
    processed_until: new Date(frozenMs),
    status: "ready",
    created: new Date(nowMs),
    updated: new Date(nowMs),
  };
  await insertInto(q, "test_clocks", [row]);
  return presentTestClock(row);
}

export async function getTestClock(ctx: BillingContext, scope: AuthScope, id: string) {
  requireTestMode(scope);
  return presentTestClock(await load(ctx.db, scope, id));
}

export async function listTestClocks(ctx: BillingContext, scope: AuthScope, list: ListParams) {
  requireTestMode(scope);
  const page = await listPage<TestClockRow>(
    ctx.db,
    "test_clocks",
    ["merchant_id = $1", "mode = $2"],
    [scope.merchantId, scope.mode],
    list,
  );
  return { rows: page.rows.map(presentTestClock), hasMore: page.hasMore };
}

/** Moves the clock (in the caller's transaction); call `processTestClock` after the commit. */
export async function advanceTestClock(
  ctx: BillingContext,
  q: Queryable,
  scope: AuthScope,
  id: string,
  input: { frozen_time: string },
) {
  requireTestMode(scope);
  const targetMs = Date.parse(input.frozen_time);
  if (Number.isNaN(targetMs))
    throw new ApiError("parameter_invalid", "frozen_time", "frozen_time must be an ISO 8601 date-time.");
  const before = await load(q, scope, id);
  if (targetMs <= before.frozen_time.getTime())
    throw new ApiError("parameter_invalid", "frozen_time", "A test clock only moves forward.");
  if (targetMs - before.frozen_time.getTime() > TEST_CLOCK_ADVANCE_MAX_MS)
    throw new ApiError("parameter_invalid", "frozen_time", "One advance may move at most two years.");
  const { rows } = await q.query<TestClockRow>(
    `update test_clocks set frozen_time = $2, status = 'advancing', updated = $3
     where id = $1 and status = 'ready' returning *`,
    [id, new Date(targetMs), new Date(ctx.clock.nowMs())],
  );
  if (!rows[0]) throw new ApiError("test_clock_advancing");
  // Runs in the background, outside this request (not its audited write); the worker's job picks
  // it up too if this process stops.
  void detachedFromRequest(() => processTestClock(ctx, id)).catch((error) =>
    ctx.logger?.error({ err: error, clock: id }, "test clock failed"),
  );
  return presentTestClock(rows[0]);
}

const advancing = new Set<string>();

/** Runs a clock's due charges in time order up to its frozen time, then marks it ready. */
export async function processTestClock(ctx: BillingContext, id: string): Promise<number> {
  if (advancing.has(id)) return 0;
  advancing.add(id);
  let charged = 0;
  try {
    for (;;) {
      const { rows } = await ctx.db.query<{ frozen_time: Date; processed_until: Date; next: Date | null }>(
        `select c.frozen_time, c.processed_until,
           (select min(run_at) from billing_jobs j where j.clock_key = c.id) as next
         from test_clocks c where c.id = $1`,
        [id],
      );
      const clock = rows[0];
      if (!clock) return charged;
      const targetMs = clock.frozen_time.getTime();
      const nextMs = clock.next?.getTime();
      if (nextMs === undefined || nextMs > targetMs) {
        const done = await ctx.db.query(
          `update test_clocks set processed_until = frozen_time, status = 'ready'
           where id = $1 and frozen_time = $2`,
          [id, clock.frozen_time],
        );
        // The clock moved while we looked (an advance committing after it kicked us, which
        // PostgreSQL lets us see only once its row lock is released): go on to the new time.
        if (done.rowCount === 0) continue;
        return charged;
      }
      // Each due job runs at its own time, never before what was already processed.
      const atMs = Math.max(nextMs, clock.processed_until.getTime());
      const report = await runDueBilling(ctx, { nowMs: atMs, clockKey: id });
      charged += report.charged;
      await ctx.db.query(
        "update test_clocks set processed_until = greatest(processed_until, $2) where id = $1",
        [id, new Date(atMs)],
      );
    }
  } finally {
    advancing.delete(id);
  }
}

/** The worker's job: every clock still advancing (for instance after a restart). */
export async function processAdvancingClocks(ctx: BillingContext): Promise<number> {
  const { rows } = await ctx.db.query<{ id: string }>(
    "select id from test_clocks where status = 'advancing'",
  );
  let charged = 0;
  for (const row of rows) charged += await processTestClock(ctx, row.id);
  return charged;
}

/** Customers may be created under a clock of the same merchant (test mode). */
export async function checkTestClock(ctx: BillingContext, scope: AuthScope, id: string): Promise<void> {
  requireTestMode(scope);
  await load(ctx.db, scope, id);
}

/** Starts processing after the advance committed; the worker's job picks it up too if this process stops. */
export function kickTestClock(ctx: BillingContext, id: string): void {
  void processTestClock(ctx, id).catch((error) =>
    ctx.logger?.error({ err: error, clock: id }, "test clock failed"),
  );
}
