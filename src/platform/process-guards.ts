import type { Logger } from "./log.ts";

/**
 * The last line of defence: anything unexpected (a rejected promise nobody awaited, an 'error'
 * event nobody listened to) is logged with its stack and counted, and the process lives on, so
 * one lost database connection never takes the platform down. Installed once by `centime start`.
 */
let installed = false;
let sink: { logger?: Logger; count?: (kind: string) => void } = {};

export function reportUnexpectedTo(logger: Logger, count: (kind: string) => void): void {
  sink = { logger, count };
}

function report(kind: "unhandled_rejection" | "uncaught_exception", error: unknown): void {
  sink.count?.(kind);
  if (sink.logger) sink.logger.error({ err: error, kind }, "unexpected error; the process continues");
  else
    process.stderr.write(
      `centime: unexpected ${kind}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
}

export function installProcessGuards(): void {
  if (installed) return;
  installed = true;
  process.on("unhandledRejection", (reason) => report("unhandled_rejection", reason));
  process.on("uncaughtException", (error) => report("uncaught_exception", error));
}
