import { executionAsyncId, executionAsyncResource } from 'node:async_hooks';

/*
 * Work that waits in a queue must later run in its caller's AsyncLocalStorage
 * context. The portable way (a promise created by the caller, resolved when the
 * work may start, the work running in its reaction) costs one promise, two
 * resolver functions and a microtask per waiting call: on a 100k-call backlog
 * that is ~100 retained bytes a call and most of the limiter's GC time.
 *
 * When no AsyncLocalStorage can see a difference, that gate can be skipped.
 * On Node 20/21 AsyncLocalStorage is built on async hooks:
 * - `executionAsyncId()` is 0 only inside a promise reaction while promise
 *   hooks are off, and any AsyncLocalStorage `run`/`enterWith` turns them on;
 * - in the one microtask where the first `run()` turns them on, the id is
 *   still 0, but the store is written onto the current async resource as a
 *   symbol-keyed property, which never goes away. Once such a property is seen
 *   the shortcut is off for good.
 * From Node 22 AsyncLocalStorage may use AsyncContextFrame instead of hooks
 * (the default in Node 24), which this test cannot see, so there the gate is
 * always used.
 */
const hooksBasedContext = /^v2[01]\./.test(process.version);
let storeSeen = !hooksBasedContext;

/** True when running queued work from another context cannot change what it observes. */
export function contextFree(): boolean {
  if (storeSeen || executionAsyncId() !== 0) return false;
  if (Object.getOwnPropertySymbols(executionAsyncResource()).length > 0) {
    storeSeen = true;
    return false;
  }
  return true;
}
