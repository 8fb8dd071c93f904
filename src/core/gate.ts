/**
 * The promise a waiting call hands its caller, and how it is settled later.
 * Internal; used by the waiter engine (Waiters).
 *
 * `pending()` creates the promise with a shared executor, and `takeResolver()`
 * returns the resolver it captured: no closure (and no context object) per
 * waiting call, which is most of what a large backlog retains. A waiting call
 * fails by being resolved with a rejected promise, so no reject function is kept.
 *
 * For parts that run work for the caller (limit, TaskQueue), a waiting call is
 * either *gated* (the caller's promise is a reaction on this one, so the work
 * runs in the caller's AsyncLocalStorage context) or *direct* (this promise is
 * the caller's own, resolved with the outcome: see context.ts).
 */

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
