/** A request's logger is made only when the request writes a line, and then carries its id. */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { LazyRequestLogger } from "../../src/http/request-logger.ts";
import { createLogger } from "../../src/platform/log.ts";

function capture(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger(level, sink);
  let children = 0;
  const child = logger.child.bind(logger);
  logger.child = ((...args: Parameters<typeof child>) => {
    children++;
    return child(...args);
  }) as typeof logger.child;
  return { logger, lines, children: () => children };
}

test("below the level nothing is made and nothing is written; at the level the line carries the bindings", () => {
  const { logger, lines, children } = capture("warn");
  const log = new LazyRequestLogger(logger, { request_id: "req_1" }, {});
  log.info({ route: "/v1/payments" }, "request");
  log.debug("detail");
  assert.equal(children(), 0, "no child logger for lines that are not written");
  assert.equal(lines.length, 0);
  assert.equal(log.isLevelEnabled("info"), false);
  assert.equal(log.isLevelEnabled("error"), true);
  assert.equal(log.level, "warn");

  log.error({ code: "x" }, "request failed");
  log.warn("again");
  assert.equal(children(), 1, "one child, made by the first line written, kept for the next");
  assert.deepEqual(
    lines.map((l) => [l.request_id, l.msg, l.level]),
    [
      ["req_1", "request failed", 50],
      ["req_1", "again", 40],
    ],
  );
  assert.equal(lines[0]!.code, "x");
});

test("a level set on the request's logger applies to it alone", () => {
  const { logger, lines } = capture("warn");
  const log = new LazyRequestLogger(logger, { request_id: "req_2" }, {});
  log.level = "debug";
  log.debug("now written");
  logger.debug("the parent's level is unchanged");
  assert.deepEqual(
    lines.map((l) => [l.request_id, l.msg]),
    [["req_2", "now written"]],
  );
  assert.equal(log.isLevelEnabled("debug"), true);
  assert.equal(logger.level, "warn");
});
