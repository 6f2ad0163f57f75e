/** A service throws this when its write lost the key to a concurrent request. */
export class IdempotencyConflict extends Error {
  constructor() {
    super("idempotency key taken by a concurrent request");
  }
}
