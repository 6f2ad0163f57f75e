import type { Outcome } from "./types.ts";

/**
 * Async completion correlated by key: a call registers a waiter under its key (attempt id or
 * provider reference); the callback listener, a delivery receipt or a poller resolves it. A
 * result that arrives before anyone waits is kept, so early callbacks are not lost.
 */
export const EARLY_RESULTS_MAX = 10_000;

export class Correlator {
  private readonly waiters = new Map<string, (outcome: Outcome) => void>();
  private readonly early = new Map<string, Outcome>();

  /** Waits up to `timeout_ms`; `undefined` means no result yet (fall back to polling). */
  wait(key: string, timeout_ms: number): Promise<Outcome | undefined> {
    const ready = this.early.get(key);
    if (ready) {
      this.early.delete(key);
      return Promise.resolve(ready);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        resolve(undefined);
      }, timeout_ms);
      this.waiters.set(key, (outcome) => {
        clearTimeout(timer);
        this.waiters.delete(key);
        resolve(outcome);
      });
    });
  }

  /** Returns true when a caller was waiting for it. */
  resolve(key: string, outcome: Outcome): boolean {
    const waiter = this.waiters.get(key);
    if (waiter) {
      waiter(outcome);
      return true;
    }
    if (this.early.size >= EARLY_RESULTS_MAX) {
      const oldest = this.early.keys().next().value;
      if (oldest !== undefined) this.early.delete(oldest);
    }
    this.early.set(key, outcome);
    return false;
  }

  /** Drops a stored early result (after it was delivered as an event). */
  forget(key: string): void {
    this.early.delete(key);
  }
}

/** Waits for a callback, then asks by polling when none came in time. */
export async function callbackThenPoll(args: {
  correlator: Correlator;
  key: string;
  callback_wait_ms: number;
  poll: () => Promise<Outcome>;
}): Promise<Outcome> {
  const outcome = await args.correlator.wait(args.key, args.callback_wait_ms);
  return outcome ?? args.poll();
}

/** A tiny event emitter for connector events. */
export class Listeners<E> {
  private readonly set = new Set<(event: E) => void>();
  add(listener: (event: E) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }
  emit(event: E): void {
    for (const l of this.set) {
      try {
        l(event);
      } catch {
        // A listener's bug must not break the connector's read loop.
      }
    }
  }
}
