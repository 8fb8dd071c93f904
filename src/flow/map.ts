import { type Admission, admitted, checkAdmission } from '../core/admission.js';
import { Deque } from '../core/Deque.js';
import { checkCount, checkFunction, checkSignal, show } from '../core/validate.js';
import { IterationStoppedError } from './errors.js';

/** What the mapping function receives besides the item. */
export interface MapContext {
  /**
   * Aborts when the caller's signal does, the consumer stops early, or another
   * item failed; with a `limiter` whose lease can be lost (a Redis semaphore),
   * also when the lease is.
   */
  readonly signal: AbortSignal;
  /** The item's position in the source (0-based). */
  readonly index: number;
}

/** Options of {@link map} (and forEach, filter). */
export interface MapOptions {
  /** Calls in flight at once. An integer >= 1 or Infinity. @default 1 */
  readonly concurrency?: number;
  /** Yield results in source order (holding early ones) or as they finish. @default true */
  readonly ordered?: boolean;
  /**
   * Finished results held beyond the calls in flight: at most `concurrency +
   * buffer` items are pulled and not yet consumed. An integer >= 0. @default concurrency
   */
  readonly buffer?: number;
  /** Stops pulling, aborts the calls in flight, and makes the iteration throw the reason. */
  readonly signal?: AbortSignal | undefined;
  /** Admit each call through a limiter too (any Admission: a rate limit, a pool, a Redis semaphore, ...). */
  readonly limiter?: Admission;
}

/** What the flow functions read from: any async or sync iterable. */
export type Source<T> = AsyncIterable<T> | Iterable<T>;

interface Outcome<R> {
  readonly ok: boolean;
  readonly value: R | undefined;
  readonly error: unknown;
}

/**
 * Map an iterable or async iterable with bounded concurrency and
 * backpressure: it never pulls more from the source than it can hold
 * (`concurrency` in flight plus `buffer` finished and not yet consumed).
 *
 * Breaking out of `for await` (or calling `return()`) stops the source (its
 * `return()` is called), aborts the calls in flight and returns once they
 * have stopped. The first error stops pulling, aborts the other calls and is
 * thrown once, at the next `next()`, once the others have stopped: no call
 * outlives the loop.
 */
export function map<T, R>(
  source: Source<T>,
  fn: (item: T, context: MapContext) => R | PromiseLike<R>,
  options: MapOptions = {},
): AsyncIterableIterator<Awaited<R>> {
  checkFunction('fn', fn);
  return new Mapper<T, Awaited<R>>(
    source,
    fn as (item: T, context: MapContext) => Awaited<R> | PromiseLike<Awaited<R>>,
    options,
  );
}

/** `map()`'s options, validated (each error names the option and the value), with their defaults. */
export function mapSettings(options: MapOptions) {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got ${show(options)}`);
  }
  const concurrency = checkCount('concurrency', options.concurrency ?? 1, 1, true);
  const buffer = checkCount(
    'buffer',
    options.buffer ?? (concurrency === Number.POSITIVE_INFINITY ? 0 : concurrency),
    0,
    true,
  );
  if (options.ordered !== undefined && typeof options.ordered !== 'boolean') {
    throw new TypeError(`Expected \`ordered\` to be a boolean, got ${show(options.ordered)}`);
  }
  return {
    concurrency,
    capacity: concurrency + buffer,
    ordered: options.ordered ?? true,
    limiter: options.limiter === undefined ? undefined : checkAdmission('limiter', options.limiter),
    signal: checkSignal('signal', options.signal),
  };
}

class Mapper<T, R> implements AsyncIterableIterator<R> {
  readonly #source: AsyncIterator<T> | Iterator<T>;
  readonly #fn: (item: T, context: MapContext) => R | PromiseLike<R>;
  readonly #concurrency: number;
  readonly #capacity: number;
  readonly #ordered: boolean;
  readonly #limiter: Admission | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #controller = new AbortController();
  readonly #onAbort: (() => void) | undefined;
  /** ordered: results by index; unordered: results in finishing order. */
  readonly #byIndex = new Map<number, Outcome<R>>();
  readonly #finished = new Deque<Outcome<R>>();
  readonly #consumers = new Deque<{ resolve: (r: IteratorResult<R>) => void; reject: (e: unknown) => void }>();
  #nextIndex = 0; // next index to pull
  #nextOut = 0; // ordered: next index to yield
  #running = 0;
  #pulling = false;
  #sourceDone = false;
  #stopped = false;
  #error: { value: unknown } | undefined = undefined;
  #errorThrown = false;
  /** `return()` calls waiting for the calls in flight to stop. */
  #stopWaiters: (() => void)[] = [];

  constructor(source: Source<T>, fn: (item: T, context: MapContext) => R | PromiseLike<R>, options: MapOptions) {
    if (
      source === null ||
      source === undefined ||
      (typeof (source as AsyncIterable<T>)[Symbol.asyncIterator] !== 'function' &&
        typeof (source as Iterable<T>)[Symbol.iterator] !== 'function')
    ) {
      throw new TypeError(`Expected \`source\` to be an iterable or an async iterable, got ${show(source)}`);
    }
    this.#source =
      typeof (source as AsyncIterable<T>)[Symbol.asyncIterator] === 'function'
        ? (source as AsyncIterable<T>)[Symbol.asyncIterator]()
        : (source as Iterable<T>)[Symbol.iterator]();
    this.#fn = fn;
    const settings = mapSettings(options);
    this.#concurrency = settings.concurrency;
    this.#capacity = settings.capacity;
    this.#ordered = settings.ordered;
    this.#limiter = settings.limiter;
    this.#signal = settings.signal;
    if (this.#signal !== undefined) {
      const signal = this.#signal;
      if (signal.aborted) this.#fail(signal.reason);
      else {
        this.#onAbort = () => this.#fail(signal.reason);
        signal.addEventListener('abort', this.#onAbort, { once: true });
      }
    }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<R> {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    return new Promise((resolve, reject) => {
      this.#consumers.push({ resolve, reject });
      this.#deliver();
      this.#pump();
    });
  }

  /** Stop early: the source is closed, the calls in flight are aborted; resolves once they have stopped. */
  return(): Promise<IteratorResult<R>> {
    this.#stop(new IterationStoppedError('The consumer stopped iterating'));
    this.#deliver();
    const done: IteratorResult<R> = { done: true, value: undefined };
    if (this.#running === 0) return Promise.resolve(done);
    return new Promise((resolve) => this.#stopWaiters.push(() => resolve(done)));
  }

  /** Items pulled and not yet consumed (in flight plus finished). */
  #held(): number {
    return this.#running + (this.#ordered ? this.#byIndex.size : this.#finished.length);
  }

  #pump(): void {
    while (
      !this.#pulling &&
      !this.#sourceDone &&
      !this.#stopped &&
      this.#running < this.#concurrency &&
      this.#held() < this.#capacity
    ) {
      this.#pulling = true;
      let step: IteratorResult<T> | Promise<IteratorResult<T>>;
      try {
        step = this.#source.next();
      } catch (error) {
        this.#pulling = false;
        this.#sourceDone = true;
        this.#fail(error);
        return;
      }
      if (typeof (step as unknown as PromiseLike<unknown>).then === 'function') {
        Promise.resolve(step).then(
          (result) => {
            this.#pulling = false;
            this.#onPulled(result);
            this.#pump();
            this.#deliver();
          },
          (error: unknown) => {
            this.#pulling = false;
            this.#sourceDone = true;
            this.#fail(error);
            this.#deliver();
          },
        );
        return;
      }
      this.#pulling = false;
      this.#onPulled(step as IteratorResult<T>);
    }
    this.#deliver();
  }

  #onPulled(result: IteratorResult<T>): void {
    if (result.done) {
      this.#sourceDone = true;
      return;
    }
    if (this.#stopped) return;
    const index = this.#nextIndex++;
    this.#running++;
    const item = result.value;
    let work: Promise<R>;
    try {
      work =
        this.#limiter === undefined
          ? Promise.resolve(this.#fn(item, { signal: this.#controller.signal, index }))
          : admitted(
              this.#limiter,
              (signal) => this.#fn(item, { signal: signal as AbortSignal, index }),
              this.#controller.signal,
            );
    } catch (error) {
      work = Promise.reject(error);
    }
    work.then(
      (value) => this.#settle(index, { ok: true, value, error: undefined }),
      (error: unknown) => this.#settle(index, { ok: false, value: undefined, error }),
    );
  }

  #settle(index: number, outcome: Outcome<R>): void {
    this.#running--;
    if (this.#stopped) {
      if (this.#running === 0 && this.#stopWaiters.length > 0) {
        const waiters = this.#stopWaiters;
        this.#stopWaiters = [];
        for (const resolve of waiters) resolve();
      }
      this.#deliver();
      return;
    }
    if (!outcome.ok) {
      this.#fail(outcome.error);
    } else if (this.#ordered) this.#byIndex.set(index, outcome);
    else this.#finished.push(outcome);
    this.#deliver();
    this.#pump();
  }

  /** The first failure: stop pulling, abort the rest, throw it once. */
  #fail(error: unknown): void {
    if (this.#error !== undefined || this.#stopped) return;
    this.#error = { value: error };
    this.#stop(error);
    this.#deliver();
  }

  #stop(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#onAbort !== undefined) (this.#signal as AbortSignal).removeEventListener('abort', this.#onAbort);
    this.#controller.abort(reason);
    this.#byIndex.clear();
    this.#finished.clear();
    if (!this.#sourceDone) {
      this.#sourceDone = true;
      try {
        const closing = this.#source.return?.();
        if (closing !== undefined && typeof (closing as PromiseLike<unknown>).then === 'function') {
          Promise.resolve(closing).catch(() => {});
        }
      } catch {
        // A source that fails to close has nothing more to give either way.
      }
    }
  }

  #deliver(): void {
    while (this.#consumers.length > 0) {
      if (this.#error !== undefined && !this.#errorThrown) {
        // Thrown once the calls it aborted have stopped.
        if (this.#running > 0) return;
        this.#errorThrown = true;
        (this.#consumers.shift() as { reject: (e: unknown) => void }).reject(this.#error.value);
        continue;
      }
      let outcome: Outcome<R> | undefined;
      if (!this.#stopped) {
        if (this.#ordered) {
          outcome = this.#byIndex.get(this.#nextOut);
          if (outcome !== undefined) {
            this.#byIndex.delete(this.#nextOut);
            this.#nextOut++;
          }
        } else outcome = this.#finished.shift();
      }
      if (outcome !== undefined) {
        (this.#consumers.shift() as { resolve: (r: IteratorResult<R>) => void }).resolve({
          done: false,
          value: outcome.value as R,
        });
        continue;
      }
      const finished = this.#stopped || (this.#sourceDone && this.#running === 0 && !this.#pulling);
      if (!finished) return;
      (this.#consumers.shift() as { resolve: (r: IteratorResult<R>) => void }).resolve({
        done: true,
        value: undefined,
      });
    }
  }
}

/**
 * Run `fn` for each item with bounded concurrency; resolves when all are
 * done, rejects on the first failure. Bad arguments throw at the call.
 */
export function forEach<T>(
  source: Source<T>,
  fn: (item: T, context: MapContext) => unknown,
  options: Omit<MapOptions, 'ordered'> = {},
): Promise<void> {
  return drain(map(source, fn, { ...options, ordered: false }));
}

async function drain(results: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of results) {
    // the results are not kept
  }
}

/** Keep the items for which `predicate` is true, with bounded concurrency (in order unless `ordered: false`). */
export function filter<T>(
  source: Source<T>,
  predicate: (item: T, context: MapContext) => boolean | PromiseLike<boolean>,
  options: MapOptions = {},
): AsyncGenerator<T> {
  checkFunction('predicate', predicate);
  return kept(map(source, async (item, context) => ({ item, keep: await predicate(item, context) }), options));
}

async function* kept<T>(entries: AsyncIterable<{ item: T; keep: boolean }>): AsyncGenerator<T> {
  for await (const entry of entries) if (entry.keep) yield entry.item;
}
