import { Duplex } from 'node:stream';
import { type Clock, systemClock } from '../core/clock.js';
import { checkCount, checkFunction, checkMs, checkRenamed, checkSignal, show } from '../core/validate.js';
import { type MapContext, type MapOptions, map, mapSettings, type Source } from './map.js';

function iteratorOf<T>(source: Source<T>, name = 'source'): AsyncIterator<T> | Iterator<T> {
  if (source !== null && source !== undefined) {
    if (typeof (source as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') {
      return (source as AsyncIterable<T>)[Symbol.asyncIterator]();
    }
    if (typeof (source as Iterable<T>)[Symbol.iterator] === 'function')
      return (source as Iterable<T>)[Symbol.iterator]();
  }
  throw new TypeError(`Expected \`${name}\` to be an iterable or an async iterable, got ${show(source)}`);
}

const WAITED = Symbol('waited');

/** Options of {@link batch}. */
export interface BatchOptions {
  /** Items per batch. An integer >= 1. */
  readonly maxBatch: number;
  /** Yield a partial batch when its first item has waited this long. @default Infinity */
  readonly maxWait?: number;
  /** Stops the iteration (closing the source) and throws the reason. */
  readonly signal?: AbortSignal | undefined;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * Group items into arrays of `maxBatch` (the last may be shorter), or fewer when
 * `maxWait` passes after a batch's first item. Pulls one item at a time:
 * the source is read only as fast as batches are consumed.
 */
export function batch<T>(source: Source<T>, options: BatchOptions): AsyncGenerator<T[]> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object with \`maxBatch\`, got ${show(options)}`);
  }
  checkRenamed(options, { maxWaitMs: 'maxWait', size: 'maxBatch' });
  const size = checkCount('maxBatch', options.maxBatch, 1, false);
  const maxWait = checkMs('maxWait', options.maxWait ?? Number.POSITIVE_INFINITY);
  const signal = checkSignal('signal', options.signal);
  return batches(iteratorOf(source), size, maxWait, signal, options.clock ?? systemClock);
}

async function* batches<T>(
  iterator: AsyncIterator<T> | Iterator<T>,
  size: number,
  maxWait: number,
  signal: AbortSignal | undefined,
  clock: Clock,
): AsyncGenerator<T[]> {
  let pending: Promise<IteratorResult<T>> | undefined;
  let timer: unknown;
  let done = false;
  try {
    while (!done) {
      signal?.throwIfAborted();
      const items: T[] = [];
      let waited: Promise<typeof WAITED> | undefined;
      while (items.length < size) {
        pending ??= Promise.resolve(iterator.next());
        const step = waited === undefined ? await pending : await Promise.race([pending, waited]);
        if (step === WAITED) break;
        pending = undefined;
        if (step.done) {
          done = true;
          break;
        }
        items.push(step.value);
        if (items.length === 1 && maxWait !== Number.POSITIVE_INFINITY && items.length < size) {
          waited = new Promise((resolve) => {
            timer = clock.setTimeout(() => resolve(WAITED), maxWait);
          });
        }
      }
      clock.clearTimeout(timer);
      timer = undefined;
      if (items.length > 0) yield items;
    }
  } finally {
    clock.clearTimeout(timer);
    if (!done) await iterator.return?.();
  }
}

/**
 * Interleave several sources, yielding items as they arrive. Each source is
 * asked for its next item only once its previous one has been consumed.
 */
export function merge<T>(...sources: Source<T>[]): AsyncGenerator<T> {
  return merged(sources.map((source, i) => iteratorOf(source, `sources[${i}]`)));
}

async function* merged<T>(iterators: (AsyncIterator<T> | Iterator<T>)[]): AsyncGenerator<T> {
  const pending = new Map<number, Promise<{ index: number; step: IteratorResult<T> }>>();
  const finished = new Set<number>();
  const pull = (index: number) => {
    const iterator = iterators[index] as AsyncIterator<T>;
    pending.set(
      index,
      Promise.resolve(iterator.next()).then((step) => ({ index, step })),
    );
  };
  for (let i = 0; i < iterators.length; i++) pull(i);
  try {
    while (pending.size > 0) {
      const { index, step } = await Promise.race(pending.values());
      pending.delete(index);
      if (step.done) {
        finished.add(index);
        continue;
      }
      yield step.value;
      pull(index);
    }
  } finally {
    // Stopped early: close every source that has not finished.
    const open = iterators.filter((_, index) => !finished.has(index)) as AsyncIterator<T>[];
    await Promise.allSettled(open.map((iterator) => iterator.return?.()));
  }
}

/**
 * A Node stream stage: a `Duplex` (object mode) that maps what is written to
 * it with bounded concurrency, for `stream.pipeline()`. Backpressure flows
 * through: the writable side holds `highWaterMark` items, and the mapping
 * pulls from it only as fast as the readable side is consumed.
 */
export function transform<T, R>(
  fn: (item: T, context: MapContext) => R | PromiseLike<R>,
  options: MapOptions = {},
): Duplex {
  checkFunction('fn', fn);
  mapSettings(options); // bad options throw here, not at the first write
  return Duplex.from(async function* (source: AsyncIterable<T>) {
    yield* map(source, fn, options);
  });
}
