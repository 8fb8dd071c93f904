/**
 * The admission conformance suite: one set of behaviours that every limiter
 * speaking the protocol (`Admission`) must show. Runs against:
 *
 *   limit(), TaskQueue, Semaphore, Mutex, BulkheadPolicy, RateLimiter,
 *   KeyedRateLimiter, Pool, AdaptiveLimiter   (in process, on fake time)
 *   RedisSemaphore, RedisRateLimiter     (test/admission.conformance.redis.test.ts, real Redis)
 *
 * limit() and TaskQueue run work the caller handed over: their close() lets
 * what is queued run (it was accepted) and destroy() rejects it; the other
 * parts' close() rejects their waiters. The suite checks each accordingly.
 *
 * Each subject is built with one unit of capacity; `free(lease)` makes the
 * next waiter's unit available (a release, or the rate limit's interval
 * passing) synchronously, so the tests can race it against an abort.
 */
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AdaptiveLimiter,
  type Admission,
  aimd,
  BulkheadPolicy,
  ClosedError,
  isAdmission,
  type Lease,
  limit,
  Mutex,
  Pool,
  RateLimiter,
  Semaphore,
  TaskQueue,
  TimeoutError,
} from '../src/index.js';
import { abortListeners, flush, track, useFakeTime } from './helpers.js';

interface Built {
  readonly admission: Admission;
  /** Make one more unit available for the next waiter, synchronously. */
  free(lease: Lease): void;
  /** Whether `release()` gives capacity back (a rate permit's slot is spent). */
  readonly releaseFrees: boolean;
  /** Whether a deadline fires exactly at `timeout` (a rate limiter may refuse earlier: it knows the admission time). */
  readonly exactDeadline: boolean;
  tryAcquire?(): Lease | undefined;
  /** Set for the parts whose close() drains what is queued; their destroy() rejects it. */
  destroy?(): Promise<void>;
}

interface Subject {
  readonly name: string;
  build(): Promise<Built>;
}

const INTERVAL = 1000;

/** A part whose `release()` frees its unit: the usual case. `drains`: its close() lets queued work run. */
function released(
  name: string,
  make: () =>
    | (Admission & { tryAcquire(): Lease | undefined; destroy?(): Promise<void> })
    | Promise<Admission & { tryAcquire(): Lease | undefined }>,
  drains = false,
): Subject {
  return {
    name,
    async build() {
      const part = (await make()) as Admission & { tryAcquire(): Lease | undefined; destroy?(): Promise<void> };
      return {
        admission: part,
        free: (lease) => lease.release(),
        releaseFrees: true,
        exactDeadline: true,
        tryAcquire: () => part.tryAcquire(),
        ...(drains ? { destroy: () => (part.destroy as () => Promise<void>)() } : {}),
      };
    },
  };
}

/** A rate limit of one per interval: its unit comes back when the interval passes, not on release. */
function rated(name: string, make: () => Admission & { tryAcquire(): Lease | undefined }): Subject {
  return {
    name,
    async build() {
      const part = make();
      return {
        admission: part,
        free: () => vi.advanceTimersByTime(INTERVAL),
        releaseFrees: false,
        exactDeadline: false,
        tryAcquire: () => part.tryAcquire(),
      };
    },
  };
}

const subjects: Subject[] = [
  released('limit()', () => limit(1), true),
  released('TaskQueue', () => new TaskQueue({ concurrency: 1 }), true),
  released('Semaphore', () => new Semaphore(1)),
  released('Mutex', () => new Mutex()),
  released('BulkheadPolicy', () => new BulkheadPolicy({ concurrency: 1, maxWaiting: Number.POSITIVE_INFINITY })),
  rated('RateLimiter', () => new RateLimiter({ limits: { limit: 1, interval: INTERVAL } })),
  rated('KeyedRateLimiter', () => new RateLimiter({ limits: { limit: 1, interval: INTERVAL } }).for('tenant-1')),
  released('Pool', async () => {
    let made = 0;
    const pool = new Pool({ create: () => ({ id: ++made }), max: 1, acquireTimeout: Number.POSITIVE_INFINITY });
    (await pool.acquire()).release(); // warm: the one resource exists and is idle
    return pool;
  }),
  released('AdaptiveLimiter', () => new AdaptiveLimiter({ algorithm: aimd({ initial: 1, min: 1, max: 1 }) })),
];

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

/** Settle a promise's rejection so an expected failure is never "unhandled". */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

describe.each(subjects)('$name conforms to the admission protocol', (subject) => {
  it('is recognised as an Admission', async () => {
    const { admission } = await subject.build();
    expect(isAdmission(admission)).toBe(true);
  });

  it('admits waiters in arrival order', async () => {
    const { admission, free } = await subject.build();
    let held = await admission.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) =>
      admission.acquire().then((lease) => {
        order.push(n);
        return lease;
      }),
    );
    for (const waiter of waiters) {
      free(held);
      await flush();
      held = await waiter;
    }
    expect(order).toEqual([1, 2, 3]);
    held.release();
  });

  it('run() starts the work synchronously when admitted at once', async () => {
    const { admission } = await subject.build();
    let started = false;
    const done = admission.run(() => {
      started = true;
      return 7;
    });
    expect(started).toBe(true);
    await expect(done).resolves.toBe(7);
  });

  it('run() starts a waiting call in the tick of its grant, in arrival order', async () => {
    const { admission, free } = await subject.build();
    const held = await admission.acquire();
    const started: number[] = [];
    const runs = [1, 2].map((n) => admission.run(() => started.push(n)));
    await flush();
    expect(started).toEqual([]);
    free(held);
    await flush();
    expect(started[0]).toBe(1);
    await Promise.all(runs.slice(0, 1));
    free(held); // a no-op for released leases; the rate limiter's interval passes
    await Promise.all(runs);
    expect(started).toEqual([1, 2]);
  });

  it('tryAcquire never jumps a waiting call', async () => {
    const built = await subject.build();
    const { admission, free } = built;
    const held = await admission.acquire();
    const waiter = track(admission.acquire());
    expect(built.tryAcquire?.()).toBeUndefined();
    free(held);
    await flush();
    expect(waiter.state).toBe('fulfilled');
    (waiter.value as Lease).release();
  });

  it('refuses a signal already aborted before queueing anything, and adds no listener', async () => {
    const { admission } = await subject.build();
    const held = await admission.acquire();
    const controller = new AbortController();
    const reason = new Error('gone');
    controller.abort(reason);
    await expect(admission.acquire({ signal: controller.signal })).rejects.toBe(reason);
    expect(admission.stats().waiting).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
    held.release();
  });

  it('an abort while waiting removes the waiter and its listener; the next waiter is still served', async () => {
    const { admission, free } = await subject.build();
    const held = await admission.acquire();
    const controller = new AbortController();
    const aborted = track(quiet(admission.acquire({ signal: controller.signal })));
    const next = track(admission.acquire());
    await flush();
    expect(admission.stats().waiting).toBe(2);
    expect(abortListeners(controller.signal)).toBe(1);
    const reason = new Error('caller left');
    controller.abort(reason);
    await flush();
    expect(aborted.state).toBe('rejected');
    expect(aborted.error).toBe(reason);
    expect(admission.stats().waiting).toBe(1);
    expect(abortListeners(controller.signal)).toBe(0);
    free(held);
    await flush();
    expect(next.state).toBe('fulfilled');
    (next.value as Lease).release();
  });

  it('an abort that races the grant never starts the work on an aborted signal, and gives the capacity back', async () => {
    const { admission, free, releaseFrees } = await subject.build();
    const held = await admission.acquire();
    const controller = new AbortController();
    const starts: boolean[] = []; // for each start: was the signal already aborted?
    const run = track(
      quiet(
        admission.run(
          ({ signal }) => {
            starts.push(signal?.aborted === true);
          },
          { signal: controller.signal },
        ),
      ),
    );
    free(held); // the grant happens now...
    const reason = new Error('too late');
    controller.abort(reason); // ...and the abort before a gated start could run
    await flush();
    // A part that starts the work inside the grant started it before the abort;
    // one that starts it in the grant's reaction must not start it at all.
    expect(starts).not.toContain(true);
    if (starts.length === 0) {
      expect(run.state).toBe('rejected');
      expect(run.error).toBe(reason);
    }
    if (releaseFrees) {
      const again = track(admission.acquire());
      await flush();
      expect(again.state).toBe('fulfilled');
      (again.value as Lease).release();
    }
  });

  it('a deadline fires at its time for a waiter behind others, and leaves the rest waiting', async () => {
    const { admission, free, exactDeadline } = await subject.build();
    const held = await admission.acquire();
    const first = track(admission.acquire());
    const timed = track(quiet(admission.acquire({ timeout: 100 })));
    const last = track(admission.acquire());
    vi.advanceTimersByTime(99);
    await flush();
    if (exactDeadline) expect(timed.state).toBe('pending');
    vi.advanceTimersByTime(1);
    await flush();
    expect(timed.state).toBe('rejected');
    expect(timed.error).toBeInstanceOf(TimeoutError);
    expect(first.state).toBe('pending');
    expect(last.state).toBe('pending');
    expect(admission.stats().waiting).toBe(2);
    free(held);
    await flush();
    expect(first.state).toBe('fulfilled');
    free(first.value as Lease);
    await flush();
    expect(last.state).toBe('fulfilled');
    (last.value as Lease).release();
  });

  it('close() (destroy() where close drains) rejects every waiter and every later acquire with ClosedError; idempotent', async () => {
    const built = await subject.build();
    const { admission } = built;
    const held = await admission.acquire();
    const waiters = [track(quiet(admission.acquire())), track(quiet(admission.acquire({ timeout: 5000 })))];
    const closing = built.destroy?.() ?? admission.close();
    await flush();
    for (const waiter of waiters) {
      expect(waiter.state).toBe('rejected');
      expect(waiter.error).toBeInstanceOf(ClosedError);
    }
    expect(admission.closed).toBe(true);
    await expect(admission.acquire()).rejects.toBeInstanceOf(ClosedError);
    await expect(admission.run(() => 1)).rejects.toBeInstanceOf(ClosedError);
    held.release();
    await closing;
    await admission.close();
    expect(vi.getTimerCount()).toBeLessThanOrEqual(timersOfIdle(subject.name));
  });

  it('close() of a part that drains: what is queued still runs, later calls are refused', async () => {
    const built = await subject.build();
    if (built.destroy === undefined) return; // covered by the test above
    const { admission, free } = built;
    const held = await admission.acquire();
    const queued = track(admission.run(() => 'ran'));
    const closing = track(admission.close());
    await expect(admission.run(() => 1)).rejects.toBeInstanceOf(ClosedError);
    await flush();
    expect(queued.state).toBe('pending');
    expect(closing.state).toBe('pending');
    free(held);
    await flush();
    expect(queued.value).toBe('ran');
    expect(closing.state).toBe('fulfilled');
  });

  it('releasing twice gives no extra capacity', async () => {
    const built = await subject.build();
    const { admission, releaseFrees } = built;
    const lease = await admission.acquire();
    lease.release();
    lease.release();
    expect(lease.released).toBe(true);
    const x = track(admission.acquire());
    const y = track(admission.acquire());
    await flush();
    expect(x.state).toBe(releaseFrees ? 'fulfilled' : 'pending');
    expect(y.state).toBe('pending');
    const closing = built.destroy?.() ?? admission.close();
    await flush();
    expect(y.state).toBe('rejected');
    (x.value as Lease | undefined)?.release();
    await closing;
  });

  it('leaves no timer and no listener once every waiter has its answer', async () => {
    const { admission, free } = await subject.build();
    const idleTimers = vi.getTimerCount();
    const held = await admission.acquire();
    const controllers = Array.from({ length: 20 }, () => new AbortController());
    const calls = controllers.map((c, i) =>
      track(quiet(admission.acquire({ signal: c.signal, timeout: i % 2 === 0 ? 50 + i : Number.POSITIVE_INFINITY }))),
    );
    // Half leave by abort, the timed ones by deadline, the rest are granted one by one.
    for (const [i, c] of controllers.entries()) if (i % 4 === 1) c.abort(new Error('left'));
    vi.advanceTimersByTime(100);
    await flush();
    let lease = held;
    for (const call of calls) {
      if (call.state !== 'pending') continue;
      free(lease);
      await flush();
      expect(call.state).toBe('fulfilled');
      lease = call.value as Lease;
    }
    free(lease);
    await flush();
    for (const c of controllers) expect(abortListeners(c.signal)).toBe(0);
    expect(admission.stats().waiting).toBe(0);
    expect(vi.getTimerCount()).toBeLessThanOrEqual(Math.max(idleTimers, timersOfIdle(subject.name)));
  });

  it('200,000 waiters aborted while capacity is held leave the heap flat', async () => {
    vi.useRealTimers(); // nothing here depends on time; real timers keep the loop cheap
    const { admission } = await subject.build();
    const held = await admission.acquire();
    const head = admission.acquire(); // a live waiter ahead of them all: the aborted ones sit behind it
    const churn = async (batches: number) => {
      for (let batch = 0; batch < batches; batch++) {
        const controllers: AbortController[] = [];
        for (let i = 0; i < 1000; i++) {
          const controller = new AbortController();
          controllers.push(controller);
          quiet(admission.acquire({ signal: controller.signal }));
        }
        // Oldest first: each leaves from the middle of the queue, not its end.
        for (const controller of controllers) controller.abort();
        await flush(2);
      }
    };
    // A first round warms up what a process keeps once (optimised code, the queue's backing store):
    // without it a part that happens to run first in a file is charged megabytes it never leaks.
    await churn(100);
    const before = heapAfterGc();
    await churn(200);
    const grown = heapAfterGc() - before;
    expect(admission.stats().waiting).toBe(1);
    // 200,000 retained waiters would be tens of MB; a flat heap is a few at most.
    expect(grown).toBeLessThan(8 * 1024 * 1024);
    held.release();
    (await head).release();
    await admission.close();
    expect(admission.stats().waiting).toBe(0);
  });
});

/** Timers an idle part may keep on purpose (the pool's housekeeping, unref'd). */
function timersOfIdle(name: string): number {
  return name === 'Pool' ? 1 : 0;
}

let gc: (() => void) | undefined;
function heapAfterGc(): number {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('an idle part keeps no process alive', () => {
  it('a process that used every part and closed none exits by itself', () => {
    vi.useRealTimers();
    const script = `
      import { AdaptiveLimiter, BulkheadPolicy, limit, Mutex, Pool, RateLimiter, Semaphore, TaskQueue } from './src/index.ts';
      const parts = [
        limit(1),
        new TaskQueue({ concurrency: 1 }),
        new Semaphore(1),
        new Mutex(),
        new BulkheadPolicy({ concurrency: 1, maxWaiting: 5 }),
        new RateLimiter({ limits: { limit: 1, interval: 60_000 } }),
        new Pool({ create: () => ({}), max: 2, min: 1 }),
        new AdaptiveLimiter(),
      ];
      for (const part of parts) {
        const lease = await part.acquire({ timeout: 10 });
        await part.acquire({ timeout: 5 }).catch(() => {}); // a wait that timed out
        lease.release();
        await part.run(() => 1, { timeout: 5 }).catch(() => {});
      }
      console.log('used', parts.length);
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url),
      encoding: 'utf8',
      timeout: 60_000, // a hang guard only: the process should end at once
    });
    expect(child.stderr).toBe('');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(child.stdout.trim()).toBe('used 8');
  });
});
