import { type Clock, systemClock } from '../core/clock.js';
import { checkCount, checkFunction, checkMs, checkRenamed, show } from '../core/validate.js';

export type BatchResult<K, V> = readonly (V | Error)[] | ReadonlyMap<K, V>;
/** Loads a batch of keys: a Map, or values in the keys' order. */
export type BatchFunction<K, V> = (keys: K[]) => PromiseLike<BatchResult<K, V>> | BatchResult<K, V>;

/** Options of {@link Batcher}. */
export interface BatcherOptions<K> {
  /** Most keys per batch; a full batch is sent at once. An integer >= 1 or Infinity. @default Infinity */
  readonly maxBatch?: number;
  /**
   * How long a batch collects keys after its first one, in ms. 0: the keys
   * requested in the same tick (as DataLoader). @default 0
   */
  readonly maxWait?: number;
  /** Map a key to a cache key, so equal keys in a batch are loaded once. @default the key itself */
  readonly cacheKey?: (key: K) => unknown;
  /** @default systemClock */
  readonly clock?: Clock;
}

interface Pending<V> {
  resolve: (value: V) => void;
  reject: (error: unknown) => void;
}

/**
 * DataLoader-style batching: `load(key)` calls made within a tick (or
 * `maxWait`, or until `maxBatch` keys) become one call of the batch
 * function. It returns one result per key, in order (an `Error` in a slot
 * rejects that key only), or a `Map` from key to value.
 */
export class Batcher<K, V> {
  readonly #batch: BatchFunction<K, V>;
  readonly #maxBatch: number;
  readonly #maxWait: number;
  readonly #cacheKey: (key: K) => unknown;
  readonly #clock: Clock;
  #keys: K[] = [];
  #pending = new Map<unknown, { key: K; promise: Promise<V>; waiters: Pending<V> }>();
  #timer: unknown = undefined;
  #scheduled = false;
  #batches = 0;

  constructor(batch: BatchFunction<K, V>, options: BatcherOptions<K> = {}) {
    checkFunction('batch', batch);
    this.#batch = batch;
    checkRenamed(options, { maxBatchSize: 'maxBatch', maxWaitMs: 'maxWait' });
    this.#maxBatch = checkCount('maxBatch', options.maxBatch ?? Number.POSITIVE_INFINITY, 1, true);
    this.#maxWait = checkMs('maxWait', options.maxWait ?? 0, false);
    if (options.cacheKey !== undefined) checkFunction('cacheKey', options.cacheKey);
    this.#cacheKey = options.cacheKey ?? ((key) => key);
    this.#clock = options.clock ?? systemClock;
  }

  /** Batches sent so far. */
  get batches(): number {
    return this.#batches;
  }

  load(key: K): Promise<V> {
    const cacheKey = this.#cacheKey(key);
    const existing = this.#pending.get(cacheKey);
    if (existing !== undefined) return existing.promise;
    let waiters!: Pending<V>;
    const promise = new Promise<V>((resolve, reject) => {
      waiters = { resolve, reject };
    });
    this.#pending.set(cacheKey, { key, promise, waiters });
    this.#keys.push(key);
    if (this.#keys.length >= this.#maxBatch) this.#flush();
    else this.#schedule();
    return promise;
  }

  loadMany(keys: readonly K[]): Promise<V[]> {
    return Promise.all(keys.map((key) => this.load(key)));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (this.#maxWait === 0) queueMicrotask(() => this.#flush());
    else this.#timer = this.#clock.setTimeout(() => this.#flush(), this.#maxWait);
  }

  #flush(): void {
    if (this.#keys.length === 0) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#scheduled = false;
    const keys = this.#keys;
    const pending = this.#pending;
    this.#keys = [];
    this.#pending = new Map();
    this.#batches++;
    const fail = (error: unknown) => {
      for (const entry of pending.values()) entry.waiters.reject(error);
    };
    let result: PromiseLike<BatchResult<K, V>> | BatchResult<K, V>;
    try {
      result = this.#batch(keys);
    } catch (error) {
      fail(error);
      return;
    }
    Promise.resolve(result).then((values) => {
      if (values instanceof Map) {
        for (const entry of pending.values()) {
          if (values.has(entry.key)) entry.waiters.resolve(values.get(entry.key) as V);
          else entry.waiters.reject(new Error(`The batch function returned no value for key ${show(entry.key)}`));
        }
        return;
      }
      const list = values as readonly (V | Error)[];
      if (!Array.isArray(list) || list.length !== keys.length) {
        fail(
          new TypeError(
            `The batch function must return an array of ${keys.length} results (one per key, in order) or a Map, got ${show(list)}`,
          ),
        );
        return;
      }
      keys.forEach((key, i) => {
        const entry = pending.get(this.#cacheKey(key));
        const value = list[i];
        if (value instanceof Error) entry?.waiters.reject(value);
        else entry?.waiters.resolve(value as V);
      });
    }, fail);
  }
}
