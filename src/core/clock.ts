/**
 * The one place sluice reads time and sets timers, so tests can run every
 * time-dependent rule on fake time, and so parts can be driven by a custom clock.
 */
export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /**
   * Call `fn` after `ms`. With `keepAlive: false` the timer does not keep the
   * process alive (used for timers that guard nothing pending).
   */
  setTimeout(fn: () => void, ms: number, keepAlive?: boolean): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock. It reads the globals at call time (not at import time) so
 * that fake timers installed by a test runner apply to it.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms, keepAlive = true) {
    const handle = setTimeout(fn, ms);
    if (!keepAlive) handle.unref?.();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
