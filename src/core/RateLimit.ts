import { checkCount, checkMs, show } from './validate.js';

/** Which algorithm enforces a limit. */
export type RateAlgorithm = 'gcra' | 'token-bucket' | 'sliding-window' | 'fixed-window';

/**
 * One rate limit: `limit` units of weight per `interval` ms.
 *
 * | algorithm | state per key | guarantee |
 * | --- | --- | --- |
 * | `gcra` (default) | one number | at most `burst` at once, then one every `interval / limit` ms; in any window of `interval` ms at most `limit + burst - 1` (with the default burst of 1: `limit`) |
 * | `token-bucket` | two numbers | the same decisions as `gcra` (a bucket of `burst` tokens refilled at `limit / interval`) |
 * | `sliding-window` | one entry per admission in the last `interval` | never more than `limit` in any window of `interval` ms |
 * | `fixed-window` | two numbers | at most `limit` per window, a window starting at the first admission after the last one ended (up to 2 x `limit` across an edge) |
 */
export interface RateLimit {
  /** Units of weight per `interval`. An integer >= 1. */
  readonly limit: number;
  /** The period of `limit`, in ms. A finite number > 0. */
  readonly interval: number;
  /** @default 'gcra' */
  readonly algorithm?: RateAlgorithm;
  /**
   * `gcra` and `token-bucket`: how much weight may go back to back after a
   * quiet period (the bucket size). An integer >= 1. A burst above 1 lets a
   * window of `interval` ms hold up to `limit + burst - 1`: opt in to it, or
   * use `sliding-window` for "up to `limit` at once, never more than `limit`
   * in any window". Not allowed with `sliding-window` and `fixed-window`,
   * whose burst is `limit`. @default 1
   */
  readonly burst?: number;
}

/** A validated limit with its defaults filled in. Internal. */
export interface NormalizedLimit {
  readonly limit: number;
  readonly interval: number;
  readonly algorithm: RateAlgorithm;
  readonly burst: number;
}

const ALGORITHMS: readonly RateAlgorithm[] = ['gcra', 'token-bucket', 'sliding-window', 'fixed-window'];

/** Validate `limits` (one limit or a non-empty list) and fill in defaults. */
export function normalizeLimits(limits: unknown, name = 'limits'): NormalizedLimit[] {
  const list = Array.isArray(limits) ? limits : [limits];
  if (list.length === 0) {
    throw new RangeError(`Expected \`${name}\` to hold at least one limit, got an empty array`);
  }
  return list.map((spec, i) => normalizeLimit(spec, Array.isArray(limits) ? `${name}[${i}]` : name));
}

function normalizeLimit(spec: unknown, name: string): NormalizedLimit {
  if (typeof spec !== 'object' || spec === null) {
    throw new TypeError(`Expected \`${name}\` to be a limit like { limit: 10, interval: 1000 }, got ${show(spec)}`);
  }
  const raw = spec as RateLimit;
  const limit = checkCount(`${name}.limit`, raw.limit, 1, false);
  const interval = checkMs(`${name}.interval`, raw.interval, false);
  if (interval === 0) {
    throw new RangeError(
      `Expected \`${name}.interval\` to be a finite number of milliseconds > 0, got ${show(interval)}`,
    );
  }
  const algorithm = raw.algorithm ?? 'gcra';
  if (!ALGORITHMS.includes(algorithm)) {
    throw new TypeError(
      `Expected \`${name}.algorithm\` to be one of ${ALGORITHMS.map((a) => `'${a}'`).join(', ')}, got ${show(algorithm)}`,
    );
  }
  // GCRA and the token bucket default to no burst: "10 per second" then never admits
  // more than 10 in any second (a burst of `limit` would admit up to 2 x limit - 1).
  let burst = algorithm === 'gcra' || algorithm === 'token-bucket' ? 1 : limit;
  if (raw.burst !== undefined) {
    if (algorithm === 'sliding-window' || algorithm === 'fixed-window') {
      throw new RangeError(
        `\`${name}.burst\` applies to 'gcra' and 'token-bucket'; a '${algorithm}' limit's burst is its \`limit\`, got burst ${show(raw.burst)}`,
      );
    }
    burst = checkCount(`${name}.burst`, raw.burst, 1, false);
  }
  return { limit, interval, algorithm, burst };
}

/** The largest weight one call may ask for: more could never be admitted. */
export function maxWeight(limits: readonly NormalizedLimit[]): number {
  let max = Number.POSITIVE_INFINITY;
  for (const l of limits) max = Math.min(max, l.burst);
  return max;
}

/** A call's weight: an integer from 1 to `max` (more could never be admitted). */
export function checkRateWeight(weight: unknown, max: number): number {
  checkCount('weight', weight, 1, false);
  if ((weight as number) > max) {
    throw new RangeError(
      `Expected \`weight\` to be at most ${max} (the smallest burst of the limits), got ${show(weight)}`,
    );
  }
  return weight as number;
}

/** A key of a keyed limit: a string or a number (or none). */
export function checkRateKey(key: unknown): string | number | undefined {
  if (key === undefined || typeof key === 'string' || typeof key === 'number') return key;
  throw new TypeError(`Expected \`key\` to be a string or a number, got ${show(key)}`);
}
