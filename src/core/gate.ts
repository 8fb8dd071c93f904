/**
 * The promise a waiting call hands its caller, and how it is settled later.
 * Internal; shared by Semaphore, limit and TaskQueue.
 *
 * `pending()` creates the promise with a shared executor, and `takeResolver()`
 * returns the resolver it captured: no closure (and no context object) per
 * waiting call, which is most of what a large backlog retains.
 *
 * A waiting call is either *gated* (the caller's promise is a reaction on this
 * one, so the work runs in the caller's AsyncLocalStorage context; the gate
 * carries a `Rejection` to fail it) or *direct* (this promise is the caller's
 * own; it fails by being resolved with a rejected promise, so no reject
 * function is kept).
 */

/** What a gate resolves with to make its reaction throw `error`. */
export class Rejection {
  constructor(readonly error: unknown) {}
}

// biome-ignore lint/suspicious/noExplicitAny: the resolver's type is restored by takeResolver's caller.
let captured: ((value: any) => void) | undefined;
// biome-ignore lint/suspicious/noExplicitAny: see above.
const capture = (resolve: (value: any) => void): void => {
  captured = resolve;
};

/** A new unsettled promise; call `takeResolver()` right after to get its resolver. */
export function pending<T>(): Promise<T> {
  return new Promise<T>(capture);
}

/** The resolver of the promise `pending()` just created. */
export function takeResolver<T>(): (value: T) => void {
  return captured as (value: T) => void;
}

/** Fail a waiting call that never started, gated or direct (see above). */
export function rejectWaiting(resolve: (value: never) => void, direct: boolean, error: unknown): void {
  (resolve as (value: unknown) => void)(direct ? Promise.reject(error) : new Rejection(error));
}
