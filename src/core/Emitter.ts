import { EventEmitter } from 'node:events';

/**
 * The one event mechanism of sluice's parts: Node's EventEmitter, so `on`
 * chains, `off` removes, and `events.once(part, name)` / `events.on` work,
 * with one payload object per event. A part emits through `notify`, which
 * keeps a throwing listener from breaking the part or the listeners after it:
 * its error is rethrown on the next tick, as an uncaught listener error would be.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface below only narrows the types of methods EventEmitter has.
export class Emitter<E extends Record<string, unknown>> extends EventEmitter {
  /** Whether anyone listens to `name` (so a part builds a payload only when needed). */
  protected listens(name: keyof E & string): boolean {
    return this.listenerCount(name) > 0;
  }

  protected notify<K extends keyof E & string>(name: K, payload: E[K]): void {
    if (!this.listens(name)) return;
    // rawListeners: a `once` listener's wrapper removes itself when called.
    for (const listener of this.rawListeners(name) as ((payload: E[K]) => void)[]) {
      try {
        listener.call(this, payload);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

// Typed for one payload per event; a listener may return anything (`pool.on('leak', (e) => leaks.push(e))`).
export interface Emitter<E extends Record<string, unknown>> {
  on<K extends keyof E & string>(name: K, listener: (payload: E[K]) => unknown): this;
  addListener<K extends keyof E & string>(name: K, listener: (payload: E[K]) => unknown): this;
  once<K extends keyof E & string>(name: K, listener: (payload: E[K]) => unknown): this;
  off<K extends keyof E & string>(name: K, listener: (payload: E[K]) => unknown): this;
  removeListener<K extends keyof E & string>(name: K, listener: (payload: E[K]) => unknown): this;
}

/**
 * Resolves once `done()` holds, checked now and after each of `events` on
 * `emitter`; rejects with the signal's reason if it aborts first. Leaves no
 * listener behind either way.
 */
export function when(
  emitter: EventEmitter,
  events: readonly string[],
  done: () => boolean,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (done()) return Promise.resolve();
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const listener = () => {
      if (!done()) return;
      cleanup();
      resolve();
    };
    const onAbort = () => {
      cleanup();
      reject(signal?.reason);
    };
    const cleanup = () => {
      for (const event of events) emitter.off(event, listener);
      signal?.removeEventListener('abort', onAbort);
    };
    for (const event of events) emitter.on(event, listener);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
