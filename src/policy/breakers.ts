import { checkCount, checkFiniteNumber, checkMs, show } from '../core/validate.js';

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
  readonly slowCallMs: number;
  /** Whether `record` needs the time (otherwise the breaker does not read the clock). */
  readonly usesTime: boolean;
}

/** Open after `threshold` failures in a row. */
export function consecutiveFailures(threshold: number): BreakerStrategy {
  checkCount('threshold', threshold, 1, false);
  let run = 0;
  return {
    slowCallMs: Number.POSITIVE_INFINITY,
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
  readonly slowCallMs?: number;
  /** No decision before the window holds this many calls. An integer >= 1. */
  readonly minimumCalls?: number;
}

function thresholds(options: RateThresholds, defaultMinimum: number) {
  const rate = (name: string, value: number) => {
    checkFiniteNumber(name, value);
    if (value <= 0 || value > 1)
      throw new RangeError(`Expected \`${name}\` to be a number in (0, 1], got ${show(value)}`);
    return value;
  };
  return {
    failureRate: rate('failureRate', options.failureRate ?? 0.5),
    slowCallRate: rate('slowCallRate', options.slowCallRate ?? 1),
    slowCallMs: checkMs('slowCallMs', options.slowCallMs ?? Number.POSITIVE_INFINITY),
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
    slowCallMs: t.slowCallMs,
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
 * Open when the failure (or slow-call) rate over the last `windowMs` reaches a
 * threshold; counts are kept in `buckets` sampling buckets (O(buckets) memory).
 */
export function timeWindow(
  options: RateThresholds & { readonly windowMs: number; readonly buckets?: number },
): BreakerStrategy {
  const windowMs = checkMs('windowMs', options?.windowMs, false);
  if (windowMs === 0)
    throw new RangeError(`Expected \`windowMs\` to be a finite number of milliseconds > 0, got ${show(0)}`);
  const buckets = checkCount('buckets', options.buckets ?? 10, 1, false);
  const t = thresholds(options, 10);
  const bucketMs = windowMs / buckets;
  let calls = new Float64Array(buckets);
  let fails = new Float64Array(buckets);
  let slows = new Float64Array(buckets);
  let current = 0;
  let currentStart = Number.NaN;
  const rotate = (now: number) => {
    if (Number.isNaN(currentStart)) currentStart = now;
    let steps = Math.floor((now - currentStart) / bucketMs);
    if (steps <= 0) return;
    currentStart += steps * bucketMs;
    if (steps > buckets) steps = buckets;
    for (let i = 0; i < steps; i++) {
      current = (current + 1) % buckets;
      calls[current] = 0;
      fails[current] = 0;
      slows[current] = 0;
    }
  };
  const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
  return {
    slowCallMs: t.slowCallMs,
    usesTime: true,
    record(failure, isSlow, now) {
      rotate(now);
      calls[current] = (calls[current] as number) + 1;
      if (failure) fails[current] = (fails[current] as number) + 1;
      if (isSlow) slows[current] = (slows[current] as number) + 1;
      const total = sum(calls);
      if (total < t.minimumCalls) return false;
      return sum(fails) / total >= t.failureRate || sum(slows) / total >= t.slowCallRate;
    },
    reset() {
      calls = new Float64Array(buckets);
      fails = new Float64Array(buckets);
      slows = new Float64Array(buckets);
      currentStart = Number.NaN;
    },
    snapshot: () => ({ calls: [...calls], fails: [...fails], slows: [...slows], current }),
    restore(state) {
      const s = state as { calls: number[]; fails: number[]; slows: number[]; current: number };
      calls = Float64Array.from(s.calls);
      fails = Float64Array.from(s.fails);
      slows = Float64Array.from(s.slows);
      current = s.current;
      currentStart = Number.NaN;
    },
  };
}
