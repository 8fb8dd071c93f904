import { getEventListeners } from 'node:events';
import { vi } from 'vitest';

/** Fake every clock sluice reads (setTimeout, Date, performance.now). */
export function useFakeTime(): void {
  vi.useFakeTimers({
    toFake: [
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'setImmediate',
      'clearImmediate',
      'Date',
      'performance',
    ],
  });
}

/**
 * The fake clock's time in ms. Throws when fake time is not installed, so a
 * test can never read the wall clock by accident.
 */
export function fakeNow(): number {
  const now = vi.getMockedSystemTime();
  if (now === null) throw new Error('fake time is not installed: call useFakeTime() first');
  return now.getTime();
}

/** Let every queued microtask (and the ones they queue) run. */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** How many abort listeners a signal still holds. */
export function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

/** A promise plus its settle functions, and whether it settled. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Observe a promise's outcome synchronously after a flush. */
export function track<T>(promise: Promise<T>): {
  state: 'pending' | 'fulfilled' | 'rejected';
  value?: T;
  error?: unknown;
} {
  const box: { state: 'pending' | 'fulfilled' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  promise.then(
    (value) => {
      box.state = 'fulfilled';
      box.value = value;
    },
    (error) => {
      box.state = 'rejected';
      box.error = error;
    },
  );
  return box;
}

/**
 * A clock the test moves by hand, for parts whose own timers must run on fake
 * time while their I/O (a real Redis) runs for real. `advance(ms)` fires the
 * timers that fall due, in order.
 */
export class ManualClock {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers)
        if (entry[1].at <= until && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = until;
  }
}
