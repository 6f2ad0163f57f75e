import { DAY_MS } from "./clock.ts";
/** Every limit of the API in one place, named with its unit last. */
export const LIMITS = {
  body_bytes_max: 64 * 1024,
  string_length_max: 5000,
  description_length_max: 1000,
  metadata_keys_max: 50,
  metadata_key_length_max: 40,
  metadata_value_length_max: 500,
  /** Longer path segments (ids are 30 characters) answer 414. */
  path_parameter_length_max: 200,
  list_limit_default: 10,
  list_limit_max: 100,
  idempotency_key_length_max: 255,
  idempotency_retention_ms: DAY_MS,
  idempotency_lock_timeout_ms: 60_000,
  pin_attempts_max: 3,
  authorization_validity_ms: 7 * DAY_MS,
  group_commit_batch_size_max: 256,
} as const;
