/** The change stream: outbox events to NATS JetStream. See docs/analytics.md. */
export {
  cursorName,
  ensureStream,
  messageBody,
  publishBatch,
  type StreamOptions,
  type StreamPublisher,
  startStreamPublisher,
} from "./publisher.ts";
