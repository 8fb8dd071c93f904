import { checkCount, checkFiniteNumber, checkMs, checkRenamed, show } from '../core/validate.js';

/** What one completed call tells a limit algorithm. */
export interface LimitSample {
  /** When the call finished (ms, the limiter's clock). */
  readonly now: number;
  /** How long it took (ms). */
  readonly rtt: number;
  /** Calls in flight when it started (itself included). */
  readonly running: number;
  /** It failed in a way that means "too much load" (error, timeout, rejection). */
  readonly dropped: boolean;
}

/**
 * A concurrency-limit algorithm: a small pure state machine fed one sample
 * per completed call. `update` returns the new limit (a real number; the
 * limiter rounds it).
 */
export interface LimitAlgorithm {
  readonly limit: number;
  update(sample: LimitSample): number;
}

/** Bounds shared by every algorithm. */
export interface LimitBounds {
  /** The starting limit. @default 20 */
  readonly initial?: number;
  /** @default 1 */
  readonly min?: number;
  /** @default 1000 */
  readonly max?: number;
}

function bounds(options: LimitBounds) {
  const min = checkCount('min', options.min ?? 1, 1, false);
  const max = checkCount('max', options.max ?? 1000, 1, false);
  if (min > max) throw new RangeError(`Expected \`min\` to be at most \`max\` (${max}), got ${show(min)}`);
  const initial = checkFiniteNumber('initial', options.initial ?? Math.min(max, Math.max(min, 20)));
  if (initial < min || initial > max) {
    throw new RangeError(
      `Expected \`initial\` to be between \`min\` (${min}) and \`max\` (${max}), got ${show(initial)}`,
    );
  }
  return { min, max, initial };
}

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

function fraction(name: string, value: number, lowOpen: boolean): number {
  checkFiniteNumber(name, value);
  if ((lowOpen ? value <= 0 : value < 0) || value > 1) {
    throw new RangeError(`Expected \`${name}\` to be a number in ${lowOpen ? '(0, 1]' : '[0, 1]'}, got ${show(value)}`);
  }
  return value;
}

/**
 * AIMD (TCP Reno style, as Netflix's AIMDLimit): +`increase` per successful
 * sample while the limit is in use (running >= limit / 2); x `backoffRatio`
 * on a drop or an RTT above `maxRtt`.
 */
export function aimd(
  options: LimitBounds & {
    readonly backoffRatio?: number;
    readonly increase?: number;
    readonly maxRtt?: number;
  } = {},
): LimitAlgorithm {
  const { min, max, initial } = bounds(options);
  const ratio = fraction('backoffRatio', options.backoffRatio ?? 0.9, true);
  const increase = checkFiniteNumber('increase', options.increase ?? 1);
  checkRenamed(options, { timeoutMs: 'maxRtt' });
  const maxRtt = checkMs('maxRtt', options.maxRtt ?? Number.POSITIVE_INFINITY);
  let limit = initial;
  return {
    get limit() {
      return limit;
    },
    update({ rtt, running, dropped }) {
      if (dropped || rtt > maxRtt) limit = Math.max(min, Math.floor(limit * ratio));
      else if (running * 2 >= limit) limit = Math.min(max, limit + increase);
      return limit;
    },
  };
}

/**
 * TCP Vegas (as Netflix's VegasLimit): from the lowest RTT seen (`rttNoLoad`,
 * re-probed every `probeMultiplier` x limit samples) it estimates the queue
 * `limit x (1 - rttNoLoad / rtt)`; with `t = log10(limit)`: grow by 6t when
 * the queue is under t, by t under 3t, shrink by t over 6t, and by t on a drop.
 */
export function vegas(
  options: LimitBounds & { readonly smoothing?: number; readonly probeMultiplier?: number } = {},
): LimitAlgorithm {
  const { min, max, initial } = bounds(options);
  const smoothing = fraction('smoothing', options.smoothing ?? 1, true);
  const probeMultiplier = checkCount('probeMultiplier', options.probeMultiplier ?? 30, 1, false);
  let limit = initial;
  let rttNoLoad = 0;
  let samples = 0;
  return {
    get limit() {
      return limit;
    },
    update({ rtt, running, dropped }) {
      samples++;
      if (samples > probeMultiplier * limit) {
        samples = 0;
        rttNoLoad = rtt; // probe: forget the old minimum
        return limit;
      }
      if (rttNoLoad === 0 || rtt < rttNoLoad) {
        rttNoLoad = rtt;
        return limit;
      }
      const log = Math.max(1, Math.log10(limit));
      let next: number;
      if (dropped) next = limit - log;
      else if (running * 2 < limit)
        return limit; // not using the limit: no signal
      else {
        const queue = Math.ceil(limit * (1 - rttNoLoad / rtt));
        if (queue <= log) next = limit + 6 * log;
        else if (queue < 3 * log) next = limit + log;
        else if (queue > 6 * log) next = limit - log;
        else return limit;
      }
      next = clamp(next, min, max);
      limit = (1 - smoothing) * limit + smoothing * next;
      return limit;
    },
  };
}

/**
 * Gradient2 (as Netflix's Gradient2Limit): compares the short-term RTT (this
 * sample) with a long-term exponential average over `longWindow` samples;
 * `gradient = clamp(rttTolerance x long / short, 0.5, 1)`, and the new limit
 * is `limit x gradient + queueSize`, smoothed. The long average decays when it
 * is more than twice the short one (recovery after overload).
 */
export function gradient2(
  options: LimitBounds & {
    readonly smoothing?: number;
    readonly rttTolerance?: number;
    readonly longWindow?: number;
    readonly queueSize?: number;
  } = {},
): LimitAlgorithm {
  const { min, max, initial } = bounds(options);
  const smoothing = fraction('smoothing', options.smoothing ?? 0.2, true);
  const tolerance = checkFiniteNumber('rttTolerance', options.rttTolerance ?? 1.5);
  if (tolerance < 1) throw new RangeError(`Expected \`rttTolerance\` to be a number >= 1, got ${show(tolerance)}`);
  const window = checkCount('longWindow', options.longWindow ?? 600, 1, false);
  const queueSize = checkFiniteNumber('queueSize', options.queueSize ?? 4);
  let limit = initial;
  let longRtt = 0;
  let count = 0;
  return {
    get limit() {
      return limit;
    },
    update({ rtt, running }) {
      // Warm-up: a plain average for the first `window` samples, then an EMA.
      count++;
      longRtt = count <= window ? longRtt + (rtt - longRtt) / count : longRtt + (rtt - longRtt) * (2 / (window + 1));
      if (longRtt / rtt > 2) longRtt *= 0.95;
      if (running < limit / 2) return limit;
      const gradient = clamp((tolerance * longRtt) / rtt, 0.5, 1);
      const next = limit * gradient + queueSize;
      limit = clamp((1 - smoothing) * limit + smoothing * next, min, max);
      return limit;
    },
  };
}

/**
 * Envoy's adaptive-concurrency gradient: `gradient = clamp((minRtt x (1 +
 * buffer)) / sampleRtt, 0.5, 2)`, applied per sample as `limit += gradient - 1`
 * (so one round of `limit` samples scales the limit by about the gradient). `minRtt` is
 * the unloaded latency, measured by the limiter at `minLimit` concurrency every
 * `probeInterval` (see `AdaptiveLimiter`); between probes the limit settles
 * where latency is `1 + buffer` times the unloaded latency.
 */
export interface GradientAlgorithm extends LimitAlgorithm {
  /** The unloaded RTT in use (0 until the first probe). */
  readonly minRtt: number;
  /** Feed a probe's RTT (taken at minimum concurrency). */
  setMinRtt(rtt: number): void;
}

export function gradient(options: LimitBounds & { readonly buffer?: number } = {}): GradientAlgorithm {
  const { min, max, initial } = bounds(options);
  const buffer = checkFiniteNumber('buffer', options.buffer ?? 0.1);
  if (buffer < 0) throw new RangeError(`Expected \`buffer\` to be a number >= 0, got ${show(buffer)}`);
  let limit = initial;
  let minRtt = 0;
  return {
    get limit() {
      return limit;
    },
    get minRtt() {
      return minRtt;
    },
    setMinRtt(rtt) {
      minRtt = rtt;
    },
    update({ rtt, running, dropped }) {
      if (minRtt === 0) return limit;
      if (dropped) {
        limit = clamp(limit * 0.5, min, max);
        return limit;
      }
      if (running * 2 < limit) return limit; // not using the limit: no signal
      // Each of a round's `limit` samples moves the limit by (g - 1): one
      // round multiplies it by about g.
      const g = clamp((minRtt * (1 + buffer)) / rtt, 0.5, 2);
      limit = clamp(limit + (g - 1), min, max);
      return limit;
    },
  };
}
