import { checkCount, checkFiniteNumber, checkMs, checkRenamed, show } from '../core/validate.js';
import { WindowCounters } from '../core/WindowCounters.js';

/** Decides from recent outcomes whether a closed circuit should open. */
export interface BreakerStrategy {
  /** Count a call's outcome at `now`; true when the circuit should open. */
  record(failure: boolean, slow: boolean, now: number): boolean;
  /** Forget everything (on closing). */
  reset(): void;
  /** Serializable state. */
  snapshot(): unknown;
  restore(state: unknown): void;
  /** A call slower than this counts as slow (Infinity: none is). */
  readonly slowCallDuration: number;
  /** Whether `record` needs the time (otherwise the breaker does not read the clock). */
  readonly usesTime: boolean;
}

/** Open after `threshold` failures in a row. */
export function consecutiveFailures(threshold: number): BreakerStrategy {
  checkCount('threshold', threshold, 1, false);
  let run = 0;
  return {
    slowCallDuration: Number.POSITIVE_INFINITY,
    usesTime: false,
    record(failure) {
      run = failure ? run + 1 : 0;
      return run >= threshold;
    },
    reset() {
      run = 0;
    },
    snapshot: () => ({ run }),
    restore(state) {
      run = Number((state as { run?: number })?.run ?? 0);
    },
  };
}

/** Thresholds shared by the window strategies. */
export interface RateThresholds {
  /** Open when at least this fraction of the window failed. A number in (0, 1]. @default 0.5 */
  readonly failureRate?: number;
  /** Open when at least this fraction of the window was slow. A number in (0, 1]. @default 1 */
  readonly slowCallRate?: number;
  /** A call slower than this counts as slow (whether it failed or not). @default Infinity */
  readonly slowCallDuration?: number;
  /** No decision before the window holds this many calls. An integer >= 1. */
  readonly minimumCalls?: number;
}

function thresholds(options: RateThresholds, defaultMinimum: number) {
  checkRenamed(options, { slowCallMs: 'slowCallDuration' });
  const rate = (name: string, value: number) => {
    checkFiniteNumber(name, value);
    if (value <= 0 || value > 1)
      throw new RangeError(`Expected \`${name}\` to be a number in (0, 1], got ${show(value)}`);
    return value;
  };
  return {
    failureRate: rate('failureRate', options.failureRate ?? 0.5),
    slowCallRate: rate('slowCallRate', options.slowCallRate ?? 1),
    slowCallDuration: checkMs('slowCallDuration', options.slowCallDuration ?? Number.POSITIVE_INFINITY),
    minimumCalls: checkCount('minimumCalls', options.minimumCalls ?? defaultMinimum, 1, false),
  };
}

/** Open when the failure (or slow-call) rate over the last `size` calls reaches a threshold. */
export function countWindow(options: RateThresholds & { readonly size: number }): BreakerStrategy {
  const size = checkCount('size', options?.size, 1, false);
  const t = thresholds(options, size);
  // Outcomes in a ring: bit 0 = failure, bit 1 = slow.
  let ring = new Uint8Array(size);
  let next = 0;
  let count = 0;
  let failures = 0;
  let slow = 0;
  return {
    slowCallDuration: t.slowCallDuration,
    usesTime: false,
    record(failure, isSlow) {
      if (count === size) {
        const old = ring[next] as number;
        failures -= old & 1;
        slow -= (old >> 1) & 1;
      } else count++;
      const bits = (failure ? 1 : 0) | (isSlow ? 2 : 0);
      ring[next] = bits;
      next = (next + 1) % size;
      failures += bits & 1;
      slow += (bits >> 1) & 1;
      if (count < t.minimumCalls) return false;
      return failures / count >= t.failureRate || slow / count >= t.slowCallRate;
    },
    reset() {
      ring = new Uint8Array(size);
      next = 0;
      count = 0;
      failures = 0;
      slow = 0;
    },
    snapshot: () => ({ ring: [...ring], next, count, failures, slow }),
    restore(state) {
      const s = state as { ring: number[]; next: number; count: number; failures: number; slow: number };
      ring = Uint8Array.from(s.ring);
      ({ next, count, failures, slow } = s);
    },
  };
}

/**
 * Open when the failure (or slow-call) rate over the last `window` reaches a
 * threshold; counts are kept in `buckets` sampling buckets (O(buckets) memory).
 */
export function timeWindow(
  options: RateThresholds & { readonly window: number; readonly buckets?: number },
): BreakerStrategy {
  checkRenamed(options, { windowMs: 'window' });
  const window = checkMs('window', options?.window, false);
  if (window === 0)
    throw new RangeError(`Expected \`window\` to be a finite number of milliseconds > 0, got ${show(0)}`);
  const buckets = checkCount('buckets', options.buckets ?? 10, 1, false);
  const t = thresholds(options, 10);
  const CALLS = 0;
  const FAILS = 1;
  const SLOWS = 2;
  const counts = new WindowCounters(window, 3, buckets);
  return {
    slowCallDuration: t.slowCallDuration,
    usesTime: true,
    record(failure, isSlow, now) {
      counts.add(CALLS, now);
      if (failure) counts.add(FAILS, now);
      if (isSlow) counts.add(SLOWS, now);
      const total = counts.sum(CALLS, now);
      if (total < t.minimumCalls) return false;
      return counts.sum(FAILS, now) / total >= t.failureRate || counts.sum(SLOWS, now) / total >= t.slowCallRate;
    },
    reset() {
      counts.reset();
    },
    snapshot: () => counts.snapshot(),
    restore(state) {
      counts.restore(state as ReturnType<typeof counts.snapshot>);
    },
  };
}
