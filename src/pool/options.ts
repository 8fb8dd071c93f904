import { type Backoff, exponentialBackoff } from '../core/backoff.js';
import { type Clock, systemClock } from '../core/clock.js';
import { checkCount, checkFiniteNumber, checkFunction, checkMs, checkName, show } from '../core/validate.js';

/** Options of the {@link Pool} constructor: the factory, then sizing, timeouts and lifetimes. */
export interface PoolOptions<T> {
  /** Make a resource. The signal aborts when `createTimeout` passes or the pool is destroyed. */
  readonly create: (signal: AbortSignal) => T | PromiseLike<T>;
  /** Dispose of a resource. @default nothing */
  readonly destroy?: (resource: T) => void | PromiseLike<void>;
  /** Whether an idle resource still works (run on borrow after `validateAfterIdle`, and by keep-alive). */
  readonly validate?: (resource: T, signal: AbortSignal) => boolean | PromiseLike<boolean>;
  /** Prepare a returned resource for its next borrower; a throw destroys it. */
  readonly reset?: (resource: T) => void | PromiseLike<void>;
  /**
   * Whether the work of `use()` / `run()` that failed with `error` broke its
   * resource: `true` destroys it, `false` returns it as sound, `undefined`
   * leaves it to the default. The default: a resource whose work failed is
   * checked with `validate` before anyone else borrows it, or destroyed when
   * there is no `validate`. (An SQL error on a live connection is `false`;
   * a lost connection is `true`.)
   * @default () => undefined
   */
  readonly isBroken?: (error: unknown, resource: T) => boolean | undefined;
  /** Resources kept even when idle (created at once, and re-created after losses). An integer >= 0. @default 0 */
  readonly min?: number;
  /** Most resources at once. An integer >= 1, >= min. @default 10 */
  readonly max?: number;
  /** Most callers waiting; one more rejects with `QueueFullError`. An integer >= 0 or Infinity. @default Infinity */
  readonly maxWaiting?: number;
  /** Most ms a caller waits for a resource; then `TimeoutError`. @default 30000 */
  readonly acquireTimeout?: number;
  /** Most ms one `create` may take; a resource that arrives later is destroyed. @default 30000 */
  readonly createTimeout?: number;
  /** Most ms one `destroy` may take before the pool stops waiting for it. @default 5000 */
  readonly destroyTimeout?: number;
  /** Most ms one `validate` may take; longer counts as invalid. @default 5000 */
  readonly validateTimeout?: number;
  /** Creates in flight at once. Low values keep a burst from opening a stampede of connections. @default 1 */
  readonly maxCreating?: number;
  /** Delay between failed creates (per consecutive failure). @default exponentialBackoff({ initial: 100, max: 10000, jitter: 'equal' }) */
  readonly createBackoff?: Backoff;
  /** An idle resource above `min` is destroyed after this many ms. @default 60000 */
  readonly idleTimeout?: number;
  /** A resource is retired after this many ms of life (minus jitter), when idle or on return. @default 1800000 */
  readonly maxLifetime?: number;
  /** Each lifetime is shortened by a random fraction up to this, so resources do not all expire together. A number in [0, 1). @default 0.025 */
  readonly lifetimeJitter?: number;
  /** A resource is retired after this many borrows. @default Infinity */
  readonly maxUses?: number;
  /** Validate idle resources every this many ms (needs `validate`). @default Infinity (off) */
  readonly keepAliveInterval?: number;
  /** On borrow, validate only resources idle longer than this (needs `validate`). @default 500 */
  readonly validateAfterIdle?: number;
  /** Report a lease held longer than this (event `leak`, with the borrower's stack). @default Infinity (off) */
  readonly leakDetectionThreshold?: number;
  /** @default systemClock */
  readonly clock?: Clock;
  /** For jitter. @default Math.random */
  readonly random?: () => number;
  /** Names the pool on the admission channel (`ADMISSION_CHANNEL`, `sluice/otel`). @default 'Pool' */
  readonly name?: string;
}

/** The options of a pool, validated, with their defaults. Internal. */
export interface PoolSettings<T> {
  readonly create: (signal: AbortSignal) => T | PromiseLike<T>;
  readonly destroy: ((resource: T) => void | PromiseLike<void>) | undefined;
  readonly validate: ((resource: T, signal: AbortSignal) => boolean | PromiseLike<boolean>) | undefined;
  readonly reset: ((resource: T) => void | PromiseLike<void>) | undefined;
  readonly isBroken: ((error: unknown, resource: T) => boolean | undefined) | undefined;
  readonly min: number;
  readonly max: number;
  readonly maxWaiting: number;
  readonly acquireTimeout: number;
  readonly createTimeout: number;
  readonly destroyTimeout: number;
  readonly validateTimeout: number;
  readonly maxCreating: number;
  readonly createBackoff: Backoff;
  readonly idleTimeout: number;
  readonly maxLifetime: number;
  readonly lifetimeJitter: number;
  readonly maxUses: number;
  readonly keepAliveInterval: number;
  readonly validateAfterIdle: number;
  readonly leakThreshold: number;
  readonly clock: Clock;
  readonly random: () => number;
  readonly name: string;
}

/** Ms > 0 (0 would check or wake without pause). */
function positiveMs(name: string, value: unknown): number {
  const ms = checkMs(name, value);
  if (ms === 0) throw new RangeError(`Expected \`${name}\` to be a number of milliseconds > 0, got ${show(ms)}`);
  return ms;
}

/** Validate a pool's options (each error names the option and the value) and fill in the defaults. */
export function poolSettings<T>(options: PoolOptions<T>): PoolSettings<T> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object with \`create\`, got ${show(options)}`);
  }
  checkFunction('create', options.create);
  for (const name of ['destroy', 'validate', 'reset'] as const) {
    if (options[name] !== undefined) checkFunction(name, options[name]);
  }
  const min = checkCount('min', options.min ?? 0, 0, false);
  const max = checkCount('max', options.max ?? 10, 1, false);
  if (min > max) throw new RangeError(`Expected \`min\` to be at most \`max\` (${max}), got ${show(min)}`);
  if (options.createBackoff !== undefined) checkFunction('createBackoff', options.createBackoff);
  const lifetimeJitter = checkFiniteNumber('lifetimeJitter', options.lifetimeJitter ?? 0.025);
  if (lifetimeJitter < 0 || lifetimeJitter >= 1) {
    throw new RangeError(`Expected \`lifetimeJitter\` to be a number in [0, 1), got ${show(lifetimeJitter)}`);
  }
  if (options.random !== undefined) checkFunction('random', options.random);
  if (options.isBroken !== undefined) checkFunction('isBroken', options.isBroken);
  return {
    create: options.create,
    destroy: options.destroy,
    validate: options.validate,
    reset: options.reset,
    isBroken: options.isBroken,
    min,
    max,
    maxWaiting: checkCount('maxWaiting', options.maxWaiting ?? Number.POSITIVE_INFINITY, 0, true),
    acquireTimeout: checkMs('acquireTimeout', options.acquireTimeout ?? 30_000),
    createTimeout: checkMs('createTimeout', options.createTimeout ?? 30_000),
    destroyTimeout: checkMs('destroyTimeout', options.destroyTimeout ?? 5000),
    validateTimeout: checkMs('validateTimeout', options.validateTimeout ?? 5000),
    maxCreating: checkCount('maxCreating', options.maxCreating ?? 1, 1, false),
    createBackoff: options.createBackoff ?? exponentialBackoff({ initial: 100, max: 10_000, jitter: 'equal' }),
    idleTimeout: checkMs('idleTimeout', options.idleTimeout ?? 60_000),
    maxLifetime: checkMs('maxLifetime', options.maxLifetime ?? 1_800_000),
    lifetimeJitter,
    maxUses: checkCount('maxUses', options.maxUses ?? Number.POSITIVE_INFINITY, 1, true),
    keepAliveInterval: positiveMs('keepAliveInterval', options.keepAliveInterval ?? Number.POSITIVE_INFINITY),
    validateAfterIdle: checkMs('validateAfterIdle', options.validateAfterIdle ?? 500),
    leakThreshold: checkMs('leakDetectionThreshold', options.leakDetectionThreshold ?? Number.POSITIVE_INFINITY),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    name: checkName(options.name, 'Pool'),
  };
}
