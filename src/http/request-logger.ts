import type { FastifyBaseLogger } from "fastify";
import type { Bindings, ChildLoggerOptions, LogFn } from "pino";

type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

/** A logger that can say whether a level would write (pino's loggers can). */
export type ParentLogger = FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };

/** Whether `logger` writes lines of `level`; a logger that cannot say is assumed to. */
export function writesLevel(logger: ParentLogger, level: Level): boolean {
  return logger.isLevelEnabled?.(level) ?? true;
}

/**
 * The logger of one request. Fastify binds a child logger to every request's id; a pino child
 * costs a few microseconds (its bindings serialized, its redaction set up), and at `warn` most
 * requests never write a line. The child is made by the first call that writes one.
 */
export class LazyRequestLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: ParentLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get bound(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.bound.level = level;
  }

  isLevelEnabled(level: Level): boolean {
    const own = this.#child as ParentLogger | undefined;
    return writesLevel(own ?? this.parent, level);
  }

  fatal(...args: Parameters<LogFn>): void {
    this.write("fatal", args);
  }
  error(...args: Parameters<LogFn>): void {
    this.write("error", args);
  }
  warn(...args: Parameters<LogFn>): void {
    this.write("warn", args);
  }
  info(...args: Parameters<LogFn>): void {
    this.write("info", args);
  }
  debug(...args: Parameters<LogFn>): void {
    this.write("debug", args);
  }
  trace(...args: Parameters<LogFn>): void {
    this.write("trace", args);
  }
  silent(): void {}

  private write(level: Level, args: Parameters<LogFn>): void {
    if (this.#child || writesLevel(this.parent, level)) this.bound[level](...args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.bound.child(bindings, options);
  }
}
