import type { Logger } from "../platform/log.ts";
import type { Metrics } from "../platform/metrics.ts";

/** A background job: runs, then waits `intervalMs` (less when it found a full batch of work). */
export interface Job {
  name: string;
  intervalMs: number;
  /** Returns how many items it handled; a busy job runs again at once. */
  run(): Promise<number>;
  busyThreshold?: number;
}

export function startJobs(
  jobs: readonly Job[],
  logger: Logger,
  metrics?: Metrics,
): { stop(): Promise<void> } {
  let stopped = false;
  const running = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();

  const schedule = (job: Job, delayMs: number) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const run = (async () => {
        let handled = 0;
        const startedMs = performance.now();
        try {
          handled = await job.run();
          metrics?.jobRuns.inc({ job: job.name, result: "ok" });
        } catch (error) {
          metrics?.jobRuns.inc({ job: job.name, result: "failed" });
          logger.error({ err: error, job: job.name }, "job failed; it will run again");
        }
        metrics?.jobDuration.observe({ job: job.name }, (performance.now() - startedMs) / 1000);
        schedule(job, job.busyThreshold !== undefined && handled >= job.busyThreshold ? 0 : job.intervalMs);
      })();
      running.add(run);
      void run.finally(() => running.delete(run));
    }, delayMs);
    timers.add(timer);
  };

  for (const job of jobs) schedule(job, job.intervalMs);
  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.allSettled([...running]);
    },
  };
}
