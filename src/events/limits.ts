import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS } from "../platform/clock.ts";
/** Limits of events and webhook delivery, named with their unit last. */

export const WEBHOOK_LIMITS = {
  /**
   * Delay before each attempt, per the Standard Webhooks schedule: the first is immediate, the
   * tenth comes about three days after the event. After the last one the delivery has failed.
   */
  retry_schedule_ms: [
    0,
    5 * SECOND_MS,
    5 * MINUTE_MS,
    30 * MINUTE_MS,
    2 * HOUR_MS,
    5 * HOUR_MS,
    10 * HOUR_MS,
    14 * HOUR_MS,
    20 * HOUR_MS,
    24 * HOUR_MS,
  ],
  /** Each delay is spread by up to this fraction either way, so failed bursts do not retry in step. */
  retry_jitter_ratio: 0.1,
  /** A Retry-After longer than this is capped. */
  retry_after_max_ms: DAY_MS,
  request_timeout_ms: 15 * SECOND_MS,
  /** Longer than a request can take, so a live worker always records before its claim lapses. */
  lease_ms: 60 * SECOND_MS,
  /** The response body is read (to reuse the connection) up to this size, then the socket is dropped. */
  response_body_bytes_max: 64 * 1024,
  claim_batch_size_max: 256,
  /**
   * A later event for an object waits while an earlier one for the same object and endpoint is still
   * pending, but not behind one older than this: one event the receiver keeps refusing must not hold
   * an object's stream for three days.
   */
  ordering_wait_max_ms: HOUR_MS,
  endpoints_per_merchant_max: 16,
  event_types_per_endpoint_max: 64,
  url_length_max: 2048,
  event_type_length_max: 100,
  rotation_overlap_default_ms: DAY_MS,
  rotation_overlap_max_ms: 7 * DAY_MS,
  /** Events, deliveries and attempts are kept at least this long. */
  retention_ms: 30 * DAY_MS,
  prune_batch_size_max: 5000,
  prune_interval_ms: HOUR_MS,
} as const;
