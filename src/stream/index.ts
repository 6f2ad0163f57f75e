/** The change stream for outside tools: every event to NATS JetStream (docs/analytics.md). */
export { JetStreamPublisher, NATS_CURSOR, type PublisherOptions, subjectOf } from "./publisher.ts";
