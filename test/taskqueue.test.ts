import { AsyncLocalStorage } from 'node:async_hooks';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClearedError, ClosedError, QueueFullError, TaskQueue, TimeoutError } from '../src/index.js';
import { abortListeners, deferred, fakeNow, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TaskQueue', () => {
  it('bounds concurrency and serves by priority, FIFO among equals', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const order: string[] = [];
    const first = queue.add(() => gate.promise);
    const tasks = [
      queue.add(async () => order.push('low-a')),
      queue.add(async () => order.push('high-a'), { priority: 2 }),
      queue.add(async () => order.push('low-b')),
      queue.add(async () => order.push('high-b'), { priority: 2 }),
      queue.add(async () => order.push('neg'), { priority: -1 }),
    ];
    expect(queue.waiting).toBe(5);
    expect(queue.running).toBe(1);
    expect(queue.waitingAt(2)).toBe(2);
    expect(queue.waitingAt(7)).toBe(0);
    gate.resolve();
    await Promise.all([first, ...tasks]);
    expect(order).toEqual(['high-a', 'high-b', 'low-a', 'low-b', 'neg']);
  });

  it('starts a task synchronously inside add() when it can', () => {
    const queue = new TaskQueue({ concurrency: 2 });
    const fn = vi.fn(async () => 1);
    queue.add(fn);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(queue.running).toBe(1);
  });

  it('setPriority moves a waiting task', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const order: string[] = [];
    queue.add(() => gate.promise);
    const all = [
      queue.add(async () => order.push('a'), { priority: 1 }),
      queue.add(async () => order.push('crab'), { id: 'crab' }),
      queue.add(async () => order.push('b'), { priority: 1 }),
    ];
    queue.setPriority('crab', 2);
    expect(() => queue.setPriority('missing', 1)).toThrow(ReferenceError);
    expect(() => queue.setPriority('crab', Number.NaN)).toThrow(/`priority`/);
    gate.resolve();
    await Promise.all(all);
    expect(order).toEqual(['crab', 'a', 'b']);
  });

  it('setPriority on a task in the middle of its level moves it (lowering it, or to the back of the same level)', async () => {
    const queue = new TaskQueue({ concurrency: 1, autoStart: false });
    const order: string[] = [];
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => queue.add(async () => order.push(id), { id }));
    queue.setPriority('b', -1); // below everyone
    queue.setPriority('c', 0); // same priority: behind d and e, as p-queue does
    expect(queue.waiting).toBe(5);
    queue.start();
    await Promise.all(all);
    // Before, a middle task was marked and then revived in place: both moves were ignored.
    expect(order).toEqual(['a', 'd', 'e', 'c', 'b']);
  });

  // pause/start/autoStart run on this engine in test/compat-p-queue.test.ts.

  it('times out a running task, aborts its signal and frees the slot', async () => {
    const queue = new TaskQueue({ concurrency: 1, runTimeout: 100 });
    let seen: AbortSignal | undefined;
    const slow = track(
      queue.add(({ signal }) => {
        seen = signal;
        return sleep(1000);
      }),
    );
    const next = track(queue.add(() => 'next', { runTimeout: 500 }));
    await vi.advanceTimersByTimeAsync(100);
    expect(slow.state).toBe('rejected');
    expect(slow.error).toBeInstanceOf(TimeoutError);
    expect((slow.error as Error).message).toBe('Task timed out after 100ms (queue has 1 running, 1 waiting)');
    expect(seen?.aborted).toBe(true);
    expect(next.state).toBe('fulfilled');
    await vi.runAllTimersAsync();
    expect(queue.stats()).toMatchObject({ runTimedOut: 1, timedOut: 0 });
  });

  it('runTimeout counts from the start, not while waiting; timeout bounds the wait', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const first = queue.add(() => sleep(300));
    const second = track(queue.add(() => sleep(50), { runTimeout: 100 }));
    const third = track(queue.add(() => 'never', { timeout: 200 }));
    await vi.advanceTimersByTimeAsync(200);
    expect(third.error).toBeInstanceOf(TimeoutError);
    expect((third.error as Error).message).toBe('TaskQueue wait timed out after 200 ms (1 running, 1 waiting)');
    await vi.advanceTimersByTimeAsync(360);
    expect(second.state).toBe('fulfilled');
    await first;
  });

  it('aborting a waiting task removes it; aborting a running one rejects it', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const runningController = new AbortController();
    const running = track(queue.add(() => gate.promise, { signal: runningController.signal }));
    const controller = new AbortController();
    const fn = vi.fn();
    const waiting = track(queue.add(fn, { signal: controller.signal }));
    controller.abort(new Error('no longer needed'));
    await flush();
    expect(waiting.state).toBe('rejected');
    expect(queue.waiting).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
    runningController.abort(new Error('stop running'));
    await flush();
    expect(running.state).toBe('rejected');
    expect((running.error as Error).message).toBe('stop running');
    expect(queue.running).toBe(0);
    expect(abortListeners(runningController.signal)).toBe(0);
    expect(fn).not.toHaveBeenCalled();
    await expect(queue.add(fn, { signal: AbortSignal.abort('pre') })).rejects.toBe('pre');
    gate.resolve();
  });

  // Fixed windows, the sliding window and carryoverIntervalCount are checked on
  // this same queue by test/compat-p-queue.test.ts (next to p-queue itself), and
  // the sliding window by the property test at the end of this file.

  it('limits the rate of starts with the rate rules (GCRA by default)', async () => {
    const queue = new TaskQueue({ limits: { limit: 2, interval: 1000, burst: 2 } });
    const t0 = fakeNow();
    const starts: number[] = [];
    const all = Array.from({ length: 4 }, () => queue.add(() => starts.push(fakeNow() - t0)));
    expect(queue.isRateLimited).toBe(true);
    await vi.runAllTimersAsync();
    await Promise.all(all);
    expect(starts).toEqual([0, 0, 500, 1000]); // a burst of 2, then one every 500 ms
    expect(queue.isRateLimited).toBe(false);
  });

  it('validates options naming the option and value', () => {
    expect(() => new TaskQueue({ concurrency: 0 })).toThrow(/`concurrency`.*`0`/);
    expect(() => new TaskQueue({ limits: { limit: 0, interval: 1000 } })).toThrow(/`limits.limit`.*`0`/);
    expect(() => new TaskQueue({ limits: { limit: 1, interval: -1 } })).toThrow(/`limits.interval`.*`-1`/);
    expect(() => new TaskQueue({ intervalCap: 1, interval: 100 } as never)).toThrow(
      "The `intervalCap` option was removed: rate limits are `limits: { limit, interval, algorithm: 'fixed-window' }` (got `intervalCap`: `1` (number))",
    );
    expect(() => new TaskQueue({ queueClass: class {} } as never)).toThrow(/`queueClass` option was removed/);
    expect(() => new TaskQueue({ rejectOnClear: false } as never)).toThrow(/`rejectOnClear` option was removed/);
    expect(() => new TaskQueue({ runTimeout: 0 })).toThrow(/`runTimeout`/);
    expect(() => new TaskQueue({ timeout: 100 } as never)).toThrow(
      'The `timeout` option was renamed `runTimeout` (got `timeout`: `100` (number))',
    );
    expect(() => new TaskQueue({ maxWaiting: -1 })).toThrow(/`maxWaiting`/);
    expect(() => new TaskQueue({ overflow: 'spill' as never })).toThrow(/`overflow`/);
    const queue = new TaskQueue();
    expect(() => queue.add(null as never)).toThrow(/`fn`/);
    expect(() => queue.add(() => 1, { timeout: -5 })).toThrow(/`timeout`.*`-5`/);
    expect(() => queue.add(() => 1, { runTimeout: 0 })).toThrow(/`runTimeout`.*`0`/);
    expect(() => queue.add(() => 1, { priority: Number.POSITIVE_INFINITY })).toThrow(/`priority`/);
  });

  it('maxWaiting with overflow "reject" refuses new tasks, keeping accepted ones', async () => {
    const queue = new TaskQueue({ concurrency: 1, maxWaiting: 2 });
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const a = queue.add(() => 'a');
    const b = queue.add(() => 'b');
    const error = await queue.add(() => 'c').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as Error).message).toBe('TaskQueue is full (2/2 waiting, 1 running)');
    gate.resolve();
    expect(await Promise.all([running, a, b])).toEqual([undefined, 'a', 'b']);
  });

  it('maxWaiting with overflow "drop-oldest" evicts the longest-waiting task', async () => {
    const queue = new TaskQueue({ concurrency: 1, maxWaiting: 2, overflow: 'drop-oldest' });
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const a = track(queue.add(() => 'a'));
    const b = queue.add(() => 'b', { priority: 1 });
    const c = queue.add(() => 'c');
    await flush();
    expect(a.state).toBe('rejected');
    expect(a.error).toBeInstanceOf(QueueFullError);
    gate.resolve();
    expect(await Promise.all([running, b, c])).toEqual([undefined, 'b', 'c']);
  });

  it('clear() rejects waiting tasks (with a reason, if given) and wakes onEmpty', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const waiting = track(queue.add(() => 'x'));
    const empty = track(queue.onEmpty());
    expect(queue.clear()).toBe(1);
    await flush();
    expect(waiting.error).toBeInstanceOf(ClearedError);
    expect(empty.state).toBe('fulfilled');
    const later = track(queue.add(() => 'y'));
    const reason = new Error('rebalancing');
    queue.clear(reason);
    await flush();
    expect(later.error).toBe(reason);
    gate.resolve();
    await running;
  });

  // onEmpty / onIdle and p-queue's helpers run on this queue in
  // test/compat-p-queue.test.ts, including when `empty` fires.

  it('onWaitingBelow: backpressure on the backlog', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const all = [queue.add(() => gate.promise), queue.add(() => 1), queue.add(() => 2)];
    const below = track(queue.onWaitingBelow(2));
    await flush();
    expect(below.state).toBe('pending');
    gate.resolve();
    await flush();
    expect(below.state).toBe('fulfilled');
    await Promise.all(all);
  });

  it('waiting helpers take a signal and leave no listener behind', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const task = queue.add(() => gate.promise);
    const controller = new AbortController();
    const idle = track(queue.onIdle({ signal: controller.signal }));
    controller.abort(new Error('gave up'));
    await flush();
    expect(idle.state).toBe('rejected');
    expect(abortListeners(controller.signal)).toBe(0);
    gate.resolve();
    await task;
  });

  it('does not throw for task errors when nobody listens to "error"', async () => {
    const queue = new TaskQueue();
    await expect(queue.add(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
  });

  it('runningTasks reports ids, priorities and remaining timeout', async () => {
    const queue = new TaskQueue({ concurrency: 2 });
    const gate = deferred();
    queue.add(() => gate.promise, { id: 'user-1', priority: 1, runTimeout: 1000 });
    await vi.advanceTimersByTimeAsync(300);
    const [info] = queue.runningTasks;
    expect(info?.id).toBe('user-1');
    expect(info?.priority).toBe(1);
    expect(info?.runTimeoutRemaining).toBe(700);
    gate.resolve();
    await queue.onIdle();
  });

  it('concurrency can change at run time', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const tasks = [1, 2, 3].map(() => queue.add(() => gate.promise));
    expect(queue.running).toBe(1);
    queue.concurrency = 3;
    expect(queue.running).toBe(3);
    gate.resolve();
    await Promise.all(tasks);
  });

  it('close refuses new tasks and resolves when idle', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const a = queue.add(() => gate.promise);
    const b = queue.add(() => 'b');
    const closed = track(queue.close());
    await expect(queue.add(() => 'c')).rejects.toBeInstanceOf(ClosedError);
    gate.resolve();
    await Promise.all([a, b]);
    await flush();
    expect(closed.state).toBe('fulfilled');
  });

  it('destroy rejects waiting tasks at once and resolves when running ones finish', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const controller = new AbortController();
    const waiting = track(queue.add(() => 'never', { signal: controller.signal }));
    const destroyed = track(queue.destroy('shutdown'));
    await flush();
    expect(waiting.error).toBeInstanceOf(ClosedError);
    expect((waiting.error as ClosedError).cause).toBe('shutdown');
    expect(abortListeners(controller.signal)).toBe(0);
    await expect(queue.add(() => 1)).rejects.toBeInstanceOf(ClosedError);
    expect(destroyed.state).toBe('pending');
    gate.resolve();
    await running;
    await flush();
    expect(destroyed.state).toBe('fulfilled');
  });

  it('queued tasks keep the AsyncLocalStorage context of add()', async () => {
    const als = new AsyncLocalStorage<string>();
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const first = als.run('first', () => queue.add(() => gate.promise));
    const second = als.run('second', () => queue.add(() => als.getStore()));
    gate.resolve();
    await first;
    expect(await second).toBe('second');
  });

  it('keeps no timer while idle, even with rate limiting', async () => {
    const queue = new TaskQueue({ limits: { limit: 1, interval: 1000, algorithm: 'fixed-window' } });
    await queue.add(() => 1);
    expect(vi.getTimerCount()).toBe(0);
    const cleared = queue.add(() => 2).catch((error: unknown) => error);
    expect(vi.getTimerCount()).toBe(1);
    queue.clear();
    expect(vi.getTimerCount()).toBe(0);
    expect(await cleared).toBeInstanceOf(ClearedError);
  });

  it('property: concurrency and strict rate limits hold under random load', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 10, max: 100 }),
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 300 }),
            duration: fc.integer({ min: 0, max: 80 }),
            priority: fc.integer({ min: 0, max: 2 }),
          }),
          { maxLength: 30 },
        ),
        async (concurrency, intervalCap, interval, tasks) => {
          const queue = new TaskQueue({
            concurrency,
            limits: { limit: intervalCap, interval, algorithm: 'sliding-window' },
          });
          const t0 = fakeNow();
          const starts: number[] = [];
          let running = 0;
          let maxRunning = 0;
          const done: Promise<unknown>[] = [];
          for (const task of tasks) {
            setTimeout(() => {
              done.push(
                queue.add(
                  async () => {
                    starts.push(fakeNow() - t0);
                    running++;
                    maxRunning = Math.max(maxRunning, running);
                    await sleep(task.duration);
                    running--;
                  },
                  { priority: task.priority },
                ),
              );
            }, task.at);
          }
          await vi.runAllTimersAsync();
          await Promise.all(done);
          expect(done.length).toBe(tasks.length);
          expect(starts.length).toBe(tasks.length);
          expect(maxRunning).toBeLessThanOrEqual(concurrency);
          for (let i = 0; i < starts.length; i++) {
            const inWindow = starts.filter((s) => s >= (starts[i] as number) && s < (starts[i] as number) + interval);
            expect(inWindow.length).toBeLessThanOrEqual(intervalCap);
          }
          expect(queue.waiting + queue.running).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });
});
