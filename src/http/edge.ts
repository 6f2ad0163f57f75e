import type { Socket } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { databaseFault } from "../ops/index.ts";
import { ApiError, type ErrorCode } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import { notFoundPage, wantsPage } from "../web/index.ts";
import { assertCleanJson, assertCleanParameters, assertNoDuplicateKeys } from "./hostile.ts";
import { validationError } from "./validation.ts";

/**
 * What every request meets before and after its surface: the request id, the one log line, JSON
 * parsing, hostile strings, and errors turned into the error envelope, framework errors included.
 */

/** Fastify's own errors, by code, as errors of the catalogue. */
const FRAMEWORK_ERRORS: ReadonlyMap<string, ErrorCode> = new Map([
  ["FST_ERR_CTP_BODY_TOO_LARGE", "body_too_large"],
  ["FST_ERR_CTP_INVALID_MEDIA_TYPE", "unsupported_media_type"],
  ["FST_ERR_CTP_INVALID_CONTENT_LENGTH", "body_invalid_json"],
  ["FST_ERR_CTP_EMPTY_JSON_BODY", "body_invalid_json"],
  ["FST_ERR_CTP_INVALID_JSON_BODY", "body_invalid_json"],
  ["FST_ERR_BAD_URL", "url_invalid"],
  ["FST_ERR_MAX_PARAM_LENGTH", "url_too_long"],
  ["FST_ERR_ASYNC_CONSTRAINT", "url_invalid"],
]);

export function errorFrom(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const fault = databaseFault(error);
  if (fault) return fault;
  const fastifyError = error as FastifyError & { validation?: unknown; validationContext?: string };
  if (Array.isArray(fastifyError?.validation)) {
    return validationError(fastifyError.validation, fastifyError.validationContext ?? "body");
  }
  const code = typeof fastifyError?.code === "string" ? FRAMEWORK_ERRORS.get(fastifyError.code) : undefined;
  if (code === "body_too_large") {
    return new ApiError(code, undefined, `The request body is larger than ${LIMITS.body_bytes_max} bytes.`);
  }
  if (code) return new ApiError(code);
  if (fastifyError?.statusCode === 400 && error instanceof SyntaxError)
    return new ApiError("body_invalid_json");
  return new ApiError("internal_error");
}

/** The error envelope, with the request's id so that support can find its log lines. */
export function errorBody(error: ApiError, requestId: string) {
  const body = error.toBody();
  return { error: { ...body.error, request_id: requestId } };
}

/**
 * An error as it may be logged: its kind, code and where it was thrown, never its data. A
 * database error carries the failing query's parameters and detail (customers' e-mails and phone
 * numbers, webhook secrets), and its message may quote a value: both stay out.
 */
export function loggableError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const quoted = /"[^"]*"|'[^']*'/g;
  const message = error.message.replace(quoted, '"…"');
  const frames = (error.stack ?? "").split("\n").slice(1).join("\n");
  const code = (error as { code?: unknown }).code;
  return {
    type: error.name,
    ...(typeof code === "string" ? { code } : {}),
    message,
    stack: `${error.name}: ${message}\n${frames}`,
  };
}

/**
 * A body over the limit is refused before it is read. Closing the connection at once makes
 * clients that are still sending (Node's fetch) see a network error instead of the 413, so a
 * bounded amount is read and thrown away first; past that bound the connection is closed anyway.
 */
const DRAIN_BYTES_MAX = 4 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 2_000;

function drain(request: FastifyRequest): Promise<void> {
  const raw = request.raw;
  if (raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let received = 0;
    const finish = () => {
      clearTimeout(timer);
      raw.off("data", onData);
      raw.off("end", finish);
      raw.off("error", finish);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > DRAIN_BYTES_MAX) finish();
    };
    const timer = setTimeout(finish, DRAIN_TIMEOUT_MS);
    raw.on("data", onData);
    raw.once("end", finish);
    raw.once("error", finish);
    raw.resume();
  });
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: ApiError): FastifyReply {
  // Already answered (the request deadline sent a 503): the late outcome is dropped.
  if (reply.sent) return reply;
  for (const [name, value] of Object.entries(error.headers ?? {})) reply.header(name, value);
  return reply
    .code(error.status)
    .type("application/json; charset=utf-8")
    .send(JSON.stringify(errorBody(error, request.id)));
}

/** Answers for errors Node's HTTP parser raises before Fastify sees a request (431, 400). */
export function clientErrorResponse(error: Error & { code?: string }): string {
  const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
  const apiError = new ApiError(tooLarge ? "request_headers_too_large" : "request_malformed");
  const body = JSON.stringify(apiError.toBody());
  const statusText = tooLarge ? "Request Header Fields Too Large" : "Bad Request";
  return (
    `HTTP/1.1 ${apiError.status} ${statusText}\r\nConnection: close\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

export function handleClientError(error: Error & { code?: string }, socket: Socket): void {
  if (socket.writable && !(socket as Socket & { _httpMessage?: unknown })._httpMessage) {
    socket.end(clientErrorResponse(error));
  } else {
    socket.destroy(error);
  }
}

/**
 * JSON bodies are UTF-8 (RFC 8259, section 8.1), checked while they are decoded, in the same one
 * pass: bytes that are not UTF-8 used to become U+FFFD and be stored as such. A BOM is dropped.
 */
const UTF8 = new TextDecoder("utf-8", { fatal: true });
const NOT_UTF8 = "The request body is not valid UTF-8: send JSON encoded in UTF-8.";
const NOT_UTF8_CHARSET = "Send the body as application/json in UTF-8 (no other charset).";

/**
 * `application/json` has no charset parameter (RFC 8259); one that says UTF-8 is tolerated, any
 * other is refused with 415 rather than decoded as UTF-8 against what the client said it sent.
 */
function charsetIsUtf8(contentType: string | undefined): boolean {
  // The usual header, "application/json", has no parameters to read.
  if (contentType === undefined || contentType.length <= "application/json".length) return true;
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType)?.[1]?.toLowerCase();
  return charset === undefined || charset === "utf-8" || charset === "utf8";
}

export function installEdge(
  app: FastifyInstance,
  deps: {
    onRequestDone(request: FastifyRequest, reply: FastifyReply): void;
    /** The methods routed for a path (empty when none is): a known path answers 405, not 404. */
    methodsAt(path: string): readonly string[];
  },
): void {
  // Bodies are JSON, or nothing: any other content type is refused with 415 (text/plain included).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    if (!charsetIsUtf8(request.headers["content-type"]))
      return done(new ApiError("unsupported_media_type", undefined, NOT_UTF8_CHARSET), undefined);
    let text: string;
    try {
      text = UTF8.decode(body as Buffer).trim();
    } catch {
      return done(new ApiError("body_invalid_json", undefined, NOT_UTF8), undefined);
    }
    // An empty JSON body is an empty object (POST /cancel with a content type and nothing else).
    if (text.length === 0) return done(null, {});
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return done(new ApiError("body_invalid_json"), undefined);
    }
    try {
      assertCleanJson(parsed);
      if (typeof parsed === "object" && parsed !== null) assertNoDuplicateKeys(text, parsed);
    } catch (error) {
      return done(error as ApiError, undefined);
    }
    done(null, parsed);
  });

  // Synchronous hooks take `done`: an async one costs every request a promise and a microtask.
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("Request-Id", request.id);
    done();
  });
  app.addHook("preValidation", (request, _reply, done) => {
    try {
      assertCleanParameters(request.params);
      assertCleanParameters(request.query);
    } catch (error) {
      return done(error as ApiError);
    }
    done();
  });
  app.addHook("onResponse", (request, reply, done) => {
    deps.onRequestDone(request, reply);
    done();
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const apiError = errorFrom(error);
    if (apiError.status >= 500) {
      request.log.error({ err: loggableError(error), route: request.routeOptions.url }, "request failed");
    }
    if (apiError.code === "body_too_large") {
      await drain(request);
      reply.header("Connection", "close");
    }
    return sendError(request, reply, apiError);
  });
  // A browser lost on an unknown address gets a page it can read, in its language, with a way
  // back; API clients keep the JSON error, and a method a known URL does not take is their 405.
  app.setNotFoundHandler((request, reply) => {
    if (wantsPage(request)) return notFoundPage(request, reply);
    const path = request.url.split("?")[0] ?? "/";
    const allowed = deps.methodsAt(path);
    // A route that exists for this method and sent the request here (callNotFound) is a 404.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      reply.header("Allow", allowed.join(", "));
      return sendError(
        request,
        reply,
        new ApiError(
          "method_not_allowed",
          undefined,
          `${request.method} is not allowed on ${path}; it takes ${allowed.join(", ")}.`,
        ),
      );
    }
    return sendError(
      request,
      reply,
      new ApiError("route_not_found", undefined, `Unrecognised request URL (${request.method} ${path}).`),
    );
  });
}
