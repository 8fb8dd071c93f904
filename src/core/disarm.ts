import type { Clock } from './clock.js';

/** A waiting call's abort listener and timer. Internal. */
export interface Armed {
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  timer: unknown;
}

/** Remove a waiting call's abort listener and clear its timer (it got its answer). Internal. */
export function disarm(waiter: Armed, clock: Clock): void {
  if (waiter.onAbort !== undefined) {
    (waiter.signal as AbortSignal).removeEventListener('abort', waiter.onAbort);
    waiter.onAbort = undefined;
  }
  if (waiter.timer !== undefined) {
    clock.clearTimeout(waiter.timer);
    waiter.timer = undefined;
  }
}
