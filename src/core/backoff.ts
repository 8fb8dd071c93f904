import { checkFiniteNumber, checkMs, show } from './validate.js';

/** What a backoff sees when it chooses the next delay. */
export interface BackoffContext {
  /** The attempt that just failed (1 for the first). */
  readonly attempt: number;
  /** The delay chosen before this one (0 before the first retry). */
  readonly previousDelay: number;
  /** A uniform random number in [0, 1). */
  readonly random: () => number;
}

/** Chooses how long to wait before the next attempt, in ms. */
export type Backoff = (context: BackoffContext) => number;

/** The same delay every time. */
export function constantBackoff(ms: number): Backoff {
  checkMs('ms', ms, false);
  return () => ms;
}

/** How an exponential backoff spreads retries (from AWS's "Exponential Backoff and Jitter"). */
export type Jitter = 'none' | 'full' | 'equal' | 'decorrelated';

export interface ExponentialBackoffOptions {
  /** The first delay (the base). @default 100 */
  readonly initial?: number;
  /** No delay exceeds this. @default 30000 */
  readonly max?: number;
  /** Growth per attempt. A finite number >= 1. @default 2 */
  readonly factor?: number;
  /**
   * With `e = min(max, initial * factor^(attempt - 1))`:
   * `'none'`: e. `'full'`: random in [0, e). `'equal'`: e/2 + random in [0, e/2).
   * `'decorrelated'`: min(max, random in [initial, 3 * previous delay)).
   * Full jitter spreads synchronized clients best; it is the default.
   * @default 'full'
   */
  readonly jitter?: Jitter;
}

const JITTERS: readonly Jitter[] = ['none', 'full', 'equal', 'decorrelated'];

/** Delays that grow by `factor` per attempt, capped at `max`, with jitter. */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): Backoff {
  const initial = checkMs('initial', options.initial ?? 100, false);
  const max = checkMs('max', options.max ?? 30_000);
  const factor = checkFiniteNumber('factor', options.factor ?? 2);
  if (factor < 1) throw new RangeError(`Expected \`factor\` to be a finite number >= 1, got ${show(factor)}`);
  const jitter = options.jitter ?? 'full';
  if (!JITTERS.includes(jitter)) {
    throw new TypeError(
      `Expected \`jitter\` to be one of ${JITTERS.map((j) => `'${j}'`).join(', ')}, got ${show(jitter)}`,
    );
  }
  return ({ attempt, previousDelay, random }) => {
    if (jitter === 'decorrelated') {
      const upper = Math.max(initial, (previousDelay || initial) * 3);
      return Math.min(max, initial + random() * (upper - initial));
    }
    const exp = Math.min(max, initial * factor ** (attempt - 1));
    if (jitter === 'none') return exp;
    if (jitter === 'full') return random() * exp;
    return exp / 2 + (random() * exp) / 2;
  };
}
