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
 * The discipline every built-in algorithm keeps on top of its own rule:
 * - **At most one decrease per round trip.** A sample that would lower the
 *   limit lowers it only if its call started after the last decrease: the
 *   calls in flight then were sent under the old limit, and their failures
 *   say nothing new (TCP's recovery point; Netflix's windowed limits).
 * - **Careful growth near the last drop.** From a drop until the limit is
 *   1.2x the limit it dropped at, the limit grows by at most 0.004 per
 *   successful call (0.4% per round trip): a probe past the capacity comes
 *   about every 25 round trips, also at small limits (at 5, from 5.0 to the
 *   5.5 that rounds to 6). When failing calls hold their slot for a whole
 *   latency, a probe costs about one round trip of calls, so the failure rate
 *   is about one in the number of round trips between probes.
 */
class Recovery {
  #decreasedAt = Number.NEGATIVE_INFINITY;
  #droppedAt = Number.POSITIVE_INFINITY; // the limit at the last drop

  /** Whether a decrease signal from this sample is news (its call started after the last decrease). */
  fresh({ now, rtt }: LimitSample): boolean {
    return now - rtt > this.#decreasedAt;
  }

  /** Lower `limit` to `to` (already bounded); a drop also marks where growth turns careful. */
  decrease(sample: LimitSample, limit: number, to: number, drop: boolean): number {
    if (to >= limit) return limit;
    this.#decreasedAt = sample.now;
    if (drop) this.#droppedAt = limit;
    return to;
  }

  /** Raise `limit` toward `to`, at most 0.004 per sample near the last drop. */
  grow(limit: number, to: number): number {
    if (to <= limit) return limit;
    if (limit >= 1.2 * this.#droppedAt) this.#droppedAt = Number.POSITIVE_INFINITY;
    return this.#droppedAt === Number.POSITIVE_INFINITY ? to : Math.min(to, limit + 0.004);
  }
}

const backoffRatio = (options: { readonly backoffRatio?: number }) =>
  fraction('backoffRatio', options.backoffRatio ?? 0.9, true);

/** `floor(limit x ratio)`, within the bounds. */
const backoff = (limit: number, ratio: number, min: number, max: number) => clamp(Math.floor(limit * ratio), min, max);

/**
 * AIMD (TCP Reno style): slow start (+1 per used sample, doubling per round
 * trip) until the first drop, then +`increase` per round trip while the limit
 * is in use (running >= limit / 2); x `backoffRatio` (rounded down) on a drop
 * or an RTT above `maxRtt`, at most once per round trip.
 */
export function aimd(
  options: LimitBounds & {
    /** @default 0.9 */
    readonly backoffRatio?: number;
    /** Growth per round trip after slow start. @default 1 */
    readonly increase?: number;
    /** An RTT above this counts as a drop. @default Infinity */
    readonly maxRtt?: number;
  } = {},
): LimitAlgorithm {
  const { min, max, initial } = bounds(options);
  const ratio = backoffRatio(options);
  const increase = checkFiniteNumber('increase', options.increase ?? 1);
  checkRenamed(options, { timeoutMs: 'maxRtt' });
  const maxRtt = checkMs('maxRtt', options.maxRtt ?? Number.POSITIVE_INFINITY);
  const recovery = new Recovery();
  let limit = initial;
  let slowStart = true;
  return {
    get limit() {
      return limit;
    },
    update(sample) {
      const { rtt, running, dropped } = sample;
      if (dropped || rtt > maxRtt) {
        if (recovery.fresh(sample)) {
          slowStart = false;
          limit = recovery.decrease(sample, limit, backoff(limit, ratio, min, max), true);
        }
      } else if (running * 2 >= limit) {
        limit = clamp(recovery.grow(limit, limit + (slowStart ? 1 : increase / limit)), min, max);
      }
      return limit;
    },
  };
}

/**
 * TCP Vegas (after Netflix's VegasLimit): from the lowest RTT seen
 * (`rttNoLoad`, re-probed every `probeMultiplier` x limit samples) it
 * estimates the queue `limit x (1 - rttNoLoad / rtt)`; with `t = log10(limit)`,
 * per round trip: grow by 6t when the queue is under t, by t under 3t, shrink
 * by t over 6t (at most once per round trip); x `backoffRatio` on a drop.
 */
export function vegas(
  options: LimitBounds & {
    readonly smoothing?: number;
    readonly probeMultiplier?: number;
    /** @default 0.9 */
    readonly backoffRatio?: number;
  } = {},
): LimitAlgorithm {
  const { min, max, initial } = bounds(options);
  const smoothing = fraction('smoothing', options.smoothing ?? 1, true);
  const probeMultiplier = checkCount('probeMultiplier', options.probeMultiplier ?? 30, 1, false);
  const ratio = backoffRatio(options);
  const recovery = new Recovery();
  let limit = initial;
  let rttNoLoad = 0;
  let samples = 0;
  return {
    get limit() {
      return limit;
    },
    update(sample) {
      const { rtt, running, dropped } = sample;
      if (dropped) {
        if (recovery.fresh(sample)) limit = recovery.decrease(sample, limit, backoff(limit, ratio, min, max), true);
        return limit;
      }
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
      if (running * 2 < limit) return limit; // not using the limit: no signal
      const log = Math.max(1, Math.log10(limit));
      const queue = Math.ceil(limit * (1 - rttNoLoad / rtt));
      if (queue > 6 * log) {
        if (recovery.fresh(sample)) {
          limit = recovery.decrease(sample, limit, clamp(limit - smoothing * log, min, max), false);
        }
      } else if (queue < 3 * log) {
        // One round trip's growth, spread over the limit's samples.
        const step = (queue <= log ? 6 * log : log) / limit;
        limit = clamp(recovery.grow(limit, limit + smoothing * step), min, max);
      }
      return limit;
    },
  };
}

/**
 * Gradient2 (after Netflix's Gradient2Limit): compares the short-term RTT
 * (this sample) with a long-term exponential average over `longWindow`
 * samples; `gradient = clamp(rttTolerance x long / short, 0.5, 1)`, and the
 * limit moves toward `limit x gradient + queueSize`, smoothed (a decrease at
 * most once per round trip). The long average decays when it is more than
 * twice the short one (recovery after overload). x `backoffRatio` on a drop.
 */
export function gradient2(
  options: LimitBounds & {
    readonly smoothing?: number;
    readonly rttTolerance?: number;
    readonly longWindow?: number;
    readonly queueSize?: number;
    /** @default 0.9 */
    readonly backoffRatio?: number;
  } = {},
): LimitAlgorithm {
  const { min, max, initial } = bounds(options);
  const smoothing = fraction('smoothing', options.smoothing ?? 0.2, true);
  const tolerance = checkFiniteNumber('rttTolerance', options.rttTolerance ?? 1.5);
  if (tolerance < 1) throw new RangeError(`Expected \`rttTolerance\` to be a number >= 1, got ${show(tolerance)}`);
  const window = checkCount('longWindow', options.longWindow ?? 600, 1, false);
  const queueSize = checkFiniteNumber('queueSize', options.queueSize ?? 4);
  const ratio = backoffRatio(options);
  const recovery = new Recovery();
  let limit = initial;
  let longRtt = 0;
  let count = 0;
  return {
    get limit() {
      return limit;
    },
    update(sample) {
      const { rtt, running, dropped } = sample;
      if (dropped) {
        if (recovery.fresh(sample)) limit = recovery.decrease(sample, limit, backoff(limit, ratio, min, max), true);
        return limit;
      }
      // Warm-up: a plain average for the first `window` samples, then an EMA.
      count++;
      longRtt = count <= window ? longRtt + (rtt - longRtt) / count : longRtt + (rtt - longRtt) * (2 / (window + 1));
      if (longRtt / rtt > 2) longRtt *= 0.95;
      if (running < limit / 2) return limit;
      const gradient = clamp((tolerance * longRtt) / rtt, 0.5, 1);
      const next = clamp((1 - smoothing) * limit + smoothing * (limit * gradient + queueSize), min, max);
      if (next > limit) limit = recovery.grow(limit, next);
      else if (next < limit && recovery.fresh(sample)) limit = recovery.decrease(sample, limit, next, false);
      return limit;
    },
  };
}

/**
 * Envoy's adaptive-concurrency gradient: `gradient = clamp((minRtt x (1 +
 * buffer)) / sampleRtt, 0.5, 2)`. Above 1 it applies per sample as
 * `limit += gradient - 1` (one round of `limit` samples scales the limit by
 * about the gradient); below 1 the limit is scaled by it at once, at most once
 * per round trip; x `backoffRatio` on a drop. `minRtt` is
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

export function gradient(
  options: LimitBounds & {
    readonly buffer?: number;
    /** @default 0.9 */
    readonly backoffRatio?: number;
  } = {},
): GradientAlgorithm {
  const { min, max, initial } = bounds(options);
  const buffer = checkFiniteNumber('buffer', options.buffer ?? 0.1);
  if (buffer < 0) throw new RangeError(`Expected \`buffer\` to be a number >= 0, got ${show(buffer)}`);
  const ratio = backoffRatio(options);
  const recovery = new Recovery();
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
    update(sample) {
      const { rtt, running, dropped } = sample;
      if (minRtt === 0) return limit;
      if (dropped) {
        if (recovery.fresh(sample)) limit = recovery.decrease(sample, limit, backoff(limit, ratio, min, max), true);
        return limit;
      }
      if (running * 2 < limit) return limit; // not using the limit: no signal
      const g = clamp((minRtt * (1 + buffer)) / rtt, 0.5, 2);
      if (g > 1) limit = clamp(recovery.grow(limit, limit + (g - 1)), min, max);
      else if (g < 1 && recovery.fresh(sample))
        limit = recovery.decrease(sample, limit, clamp(limit * g, min, max), false);
      return limit;
    },
  };
}
