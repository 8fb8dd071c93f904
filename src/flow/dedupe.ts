import { type Clock, systemClock } from '../core/clock.js';
import { TimeoutError } from '../core/errors.js';
import { checkFunction, checkMs, checkRenamed, checkSignal, show } from '../core/validate.js';

/** Options of {@link dedupe}. */
export interface DedupeOptions<A extends unknown[]> {
  /** The key of a call, from its arguments. @default the first argument */
  readonly key?: (...args: A) => unknown;
  /** Keep a successful result this many ms for later calls (failures are never kept). @default 0 */
  readonly ttl?: number;
  /**
   * Most ms one shared call may run. Past it, every caller sharing it rejects
   * with a `TimeoutError` (`SLUICE_TIMEOUT`) and the key is forgotten, so the
   * next call runs `fn` anew: a hung call no longer holds every caller of its
   * key. Its late result is ignored. @default Infinity
   */
  readonly runTimeout?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** A de-duplicated function. */
export interface Deduped<A extends unknown[], R> {
  (...args: A): Promise<R>;
  /** The result, and whether this call shared another one's (in flight or cached). */
  withInfo(...args: A): Promise<{ value: R; shared: boolean }>;
  /**
   * This caller's call, with a wait of its own: `signal` aborts it (rejecting
   * with the signal's reason) and `timeout` (ms) ends it with a `TimeoutError`,
   * while the shared call goes on for the others (and its result is cached as
   * usual). A signal already aborted never starts `fn`. Nothing is left
   * behind: the abort listener and the timer go when this caller is answered.
   */
  with(options: DedupeCallOptions, ...args: A): Promise<R>;
  /** Drop the in-flight entry or cached result of a key; the next call runs anew. */
  forget(key: unknown): void;
  /** Keys in flight or cached. */
  readonly size: number;
}

/** A caller's own wait, for {@link Deduped.with}. */
export interface DedupeCallOptions {
  readonly signal?: AbortSignal | undefined;
  /** @default Infinity */
  readonly timeout?: number;
}

interface Entry<R> {
  promise: Promise<R>;
  expires: number; // Infinity while in flight
  timer: unknown;
}

/**
 * Singleflight: concurrent calls with the same key share one call of `fn`
 * (the cache stampede fix). With `ttl`, a success is also reused for that
 * long; a failure is handed to the callers that shared it and forgotten.
 */
export function dedupe<A extends unknown[], R>(
  fn: (...args: A) => R | PromiseLike<R>,
  options: DedupeOptions<A> = {},
): Deduped<A, Awaited<R>> {
  checkFunction('fn', fn);
  if (options.key !== undefined) checkFunction('key', options.key);
  const keyOf = options.key ?? ((...args: A) => args[0]);
  checkRenamed(options, { ttlMs: 'ttl' });
  const ttl = checkMs('ttl', options.ttl ?? 0);
  const runTimeout = checkMs('runTimeout', options.runTimeout ?? Number.POSITIVE_INFINITY);
  const clock = options.clock ?? systemClock;
  const entries = new Map<unknown, Entry<Awaited<R>>>();

  const drop = (key: unknown, entry: Entry<Awaited<R>>) => {
    if (entries.get(key) !== entry) return;
    entries.delete(key);
    clock.clearTimeout(entry.timer);
  };

  const call = (args: A): { promise: Promise<Awaited<R>>; shared: boolean } => {
    const key = keyOf(...args);
    const existing = entries.get(key);
    if (existing !== undefined && existing.expires > clock.now()) return { promise: existing.promise, shared: true };
    if (existing !== undefined) drop(key, existing);
    let promise: Promise<Awaited<R>>;
    try {
      promise = Promise.resolve(fn(...args)) as Promise<Awaited<R>>;
    } catch (error) {
      promise = Promise.reject(error);
    }
    const entry: Entry<Awaited<R>> = { promise, expires: Number.POSITIVE_INFINITY, timer: undefined };
    if (runTimeout !== Number.POSITIVE_INFINITY) {
      promise = entry.promise = bounded(entry, runTimeout, clock, () => drop(key, entry));
    }
    entries.set(key, entry);
    promise.then(
      () => {
        if (entries.get(key) !== entry) return;
        clock.clearTimeout(entry.timer);
        if (ttl === 0) drop(key, entry);
        else {
          entry.expires = clock.now() + ttl;
          // The cached value is dropped when it expires (the timer keeps nothing alive).
          entry.timer = clock.setTimeout(() => drop(key, entry), ttl, false);
        }
      },
      () => drop(key, entry),
    );
    return { promise, shared: false };
  };

  const deduped = ((...args: A) => call(args).promise) as Deduped<A, Awaited<R>>;
  Object.defineProperties(deduped, {
    withInfo: {
      value: (...args: A) => {
        const { promise, shared } = call(args);
        return promise.then((value) => ({ value, shared }));
      },
    },
    with: {
      value: (callOptions: DedupeCallOptions, ...args: A) => ownWait(callOptions, clock, () => call(args).promise),
    },
    forget: {
      value: (key: unknown) => {
        const entry = entries.get(key);
        if (entry !== undefined) drop(key, entry);
      },
    },
    size: { get: () => entries.size },
  });
  return deduped;
}

/**
 * The entry's call, or a TimeoutError once `ms` pass (then `forget` drops the
 * key). While the call runs, `entry.timer` is this deadline; a TTL timer
 * replaces it once the call settles.
 */
function bounded<R>(entry: Entry<R>, ms: number, clock: Clock, forget: () => void): Promise<R> {
  const call = entry.promise;
  return new Promise<R>((resolve, reject) => {
    entry.timer = clock.setTimeout(
      () => {
        forget();
        reject(new TimeoutError(`The deduplicated call ran past its runTimeout of ${ms} ms`));
      },
      ms,
      false,
    );
    call.then(resolve, reject);
  });
}

/** A caller's own wait on the shared call `start()` joins (validated here; an aborted signal never starts it). */
function ownWait<R>(options: DedupeCallOptions, clock: Clock, start: () => Promise<R>): Promise<R> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      `Expected \`options\` to be an object with \`signal\` and/or \`timeout\`, got ${show(options)}`,
    );
  }
  const signal = checkSignal('signal', options.signal);
  const timeout = checkMs('timeout', options.timeout ?? Number.POSITIVE_INFINITY);
  if (signal?.aborted) return Promise.reject(signal.reason);
  return waitFor(start(), signal, timeout, clock);
}

/** `promise`, or the caller's own end: its signal's abort or its `timeout`. */
function waitFor<R>(promise: Promise<R>, signal: AbortSignal | undefined, timeout: number, clock: Clock): Promise<R> {
  if (signal === undefined && timeout === Number.POSITIVE_INFINITY) return promise;
  return new Promise<R>((resolve, reject) => {
    let timer: unknown;
    const onAbort = () => {
      settle();
      reject(signal?.reason);
    };
    const settle = () => {
      signal?.removeEventListener('abort', onAbort);
      clock.clearTimeout(timer);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeout !== Number.POSITIVE_INFINITY) {
      timer = clock.setTimeout(() => {
        settle();
        reject(new TimeoutError(`The deduplicated call did not answer within its timeout of ${timeout} ms`));
      }, timeout);
    }
    promise.then(
      (value) => {
        settle();
        resolve(value);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
}
