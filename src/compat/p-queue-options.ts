/** p-queue 9's option checks, with its messages, and its rate options as sluice's limits. */
import type { RateLimit } from '../core/RateLimit.js';
import { checkBoolean } from '../core/validate.js';

/** The options these read (a subset of the drop-in's `Options`). */
interface PQueueRateOptions {
  readonly concurrency?: number;
  readonly intervalCap?: number;
  readonly interval?: number;
  readonly timeout?: number;
  readonly strict?: boolean;
}

/** `value` as p-queue 9 prints it in its messages (`undefined` for concurrency, '' for the others). */
const shown = (value: unknown, empty: string) => (value === undefined || value === null ? empty : String(value));

/**
 * p-queue 9's own checks, with its messages, on the options as given (an
 * option present but `undefined` overrides p-queue's default, so it throws).
 * It accepts fractional `concurrency` and `intervalCap` (`n < 1.5` lets 2 run): they are rounded up.
 */
export function pQueueChecks(options: PQueueRateOptions): {
  concurrency: number;
  intervalCap: number;
  interval: number;
} {
  const merged = {
    concurrency: Number.POSITIVE_INFINITY,
    intervalCap: Number.POSITIVE_INFINITY,
    interval: 0,
    ...options,
  };
  if (!(typeof merged.intervalCap === 'number' && merged.intervalCap >= 1)) {
    throw new TypeError(
      `Expected \`intervalCap\` to be a number from 1 and up, got \`${shown(merged.intervalCap, '')}\` (${typeof merged.intervalCap})`,
    );
  }
  if (merged.interval === undefined || !(Number.isFinite(merged.interval) && merged.interval >= 0)) {
    throw new TypeError(
      `Expected \`interval\` to be a finite number >= 0, got \`${shown(merged.interval, '')}\` (${typeof merged.interval})`,
    );
  }
  if (!(typeof merged.concurrency === 'number' && merged.concurrency >= 1)) {
    throw new TypeError(
      `Expected \`concurrency\` to be a number from 1 and up, got \`${shown(merged.concurrency, 'undefined')}\` (${typeof merged.concurrency})`,
    );
  }
  checkTimeout(options.timeout);
  return {
    concurrency: Math.ceil(merged.concurrency),
    intervalCap: Math.ceil(merged.intervalCap),
    interval: merged.interval,
  };
}

/** p-queue 9's check of a `timeout` (constructor, property, `add`). */
export function checkTimeout(timeout: unknown): void {
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) {
    throw new TypeError(
      `Expected \`timeout\` to be a positive finite number, got \`${String(timeout)}\` (${typeof timeout})`,
    );
  }
}

/** p-queue's `intervalCap` / `interval` / `strict` as sluice's limits. */
export function limitsOf(intervalCap: number, interval: number, options: PQueueRateOptions): RateLimit | undefined {
  const strict = options.strict === undefined ? false : checkBoolean('strict', options.strict);
  if (strict && interval === 0) throw new TypeError('The `strict` option requires a non-zero `interval`');
  if (strict && intervalCap === Number.POSITIVE_INFINITY) {
    throw new TypeError('The `strict` option requires a finite `intervalCap`');
  }
  if (intervalCap === Number.POSITIVE_INFINITY || interval === 0) return undefined;
  return { limit: intervalCap, interval, algorithm: strict ? 'sliding-window' : 'fixed-window' };
}
