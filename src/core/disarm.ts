import type { Clock } from './clock.js';

/** A waiting call's abort listener and timer. Internal. */
export interface Armed {
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Only for waits with a timeout. */
  timer?: unknown;
}

/**
 * Make a waiting call leave on `signal` (calling `onAbort(reason)`) and, when
 * `timeout` is finite, after `timeout` ms (calling `onTimeout`). `disarm`
 * undoes both once the call has its answer. Internal.
 */
export function arm(
  waiter: Armed,
  clock: Clock,
  signal: AbortSignal | undefined,
  onAbort: (reason: unknown) => void,
  timeout = Number.POSITIVE_INFINITY,
  onTimeout?: () => void,
): void {
  if (signal !== undefined) {
    waiter.signal = signal;
    waiter.onAbort = () => onAbort(signal.reason);
    signal.addEventListener('abort', waiter.onAbort, { once: true });
  }
  if (timeout !== Number.POSITIVE_INFINITY && onTimeout !== undefined) {
    waiter.timer = clock.setTimeout(() => {
      waiter.timer = undefined;
      onTimeout();
    }, timeout);
  }
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
