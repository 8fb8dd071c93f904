/**
 * Typed listeners for a policy's events: `policy.on('retry', fn)` returns a
 * function that removes the listener. Listeners run synchronously; one that
 * throws does not stop the others or the policy (the error is reported on the
 * next tick, like an EventEmitter listener would crash). Internal.
 */
export class Listeners<Events extends Record<string, unknown>> {
  #byName = new Map<keyof Events, Set<(payload: never) => void>>();

  on<K extends keyof Events>(name: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.#byName.get(name);
    if (set === undefined) {
      set = new Set();
      this.#byName.set(name, set);
    }
    set.add(listener as (payload: never) => void);
    return () => {
      set.delete(listener as (payload: never) => void);
    };
  }

  /** Whether anyone listens (so payloads are only built when needed). */
  has(name: keyof Events): boolean {
    return (this.#byName.get(name)?.size ?? 0) > 0;
  }

  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const set = this.#byName.get(name);
    if (set === undefined) return;
    for (const listener of set) {
      try {
        (listener as (payload: Events[K]) => void)(payload);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
