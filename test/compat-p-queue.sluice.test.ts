/**
 * The p-queue drop-in's own paths, beyond the suite it shares with p-queue
 * (test/compat-p-queue.test.ts): a custom queue class fed to the TaskQueue
 * slot by slot, and the events it relays.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import PQueue, { PriorityQueue } from '../src/compat/p-queue.js';
import { abortListeners, deferred, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('sluice/compat/p-queue', () => {
  it('a custom queueClass decides the order: priorities, setPriority, abort, sizeBy', async () => {
    // A subclass takes the custom-queue path (the class itself maps to the TaskQueue's own queue).
    class MyQueue extends PriorityQueue {}
    const queue = new PQueue({ concurrency: 1, queueClass: MyQueue });
    const gate = deferred();
    const order: string[] = [];
    const first = queue.add(() => gate.promise);
    const controller = new AbortController();
    const aborted = track(queue.add(() => order.push('aborted'), { priority: 9, signal: controller.signal }));
    const all = [
      queue.add(async () => order.push('low')),
      queue.add(async () => order.push('high'), { priority: 2 }),
      queue.add(async () => order.push('moved'), { id: 'moved' }),
    ];
    expect(queue.sizeBy({ priority: 0 })).toBe(2);
    expect(queue.size).toBe(4);
    queue.setPriority('moved', 5);
    expect(() => queue.setPriority('missing', 1)).toThrow(ReferenceError);
    controller.abort(new Error('gone'));
    await flush();
    expect(aborted.state).toBe('rejected');
    expect(queue.size).toBe(3);
    expect(abortListeners(controller.signal)).toBe(0);
    gate.resolve();
    await Promise.all([first, ...all]);
    expect(order).toEqual(['moved', 'high', 'low']);
    await queue.onIdle();
  });

  it('a custom queueClass: clear() forgets the waiting tasks; events and onIdle still follow', async () => {
    class MyQueue extends PriorityQueue {}
    const queue = new PQueue({ concurrency: 1, queueClass: MyQueue });
    const seen: string[] = [];
    for (const name of ['add', 'active', 'next', 'empty', 'idle'] as const) queue.on(name, () => seen.push(name));
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const forgotten = track(queue.add(() => 'never'));
    queue.clear();
    expect(queue.size).toBe(0);
    gate.resolve();
    await running;
    await queue.onIdle();
    await flush();
    expect(forgotten.state).toBe('pending');
    expect(seen.slice(0, 4)).toEqual(['add', 'active', 'empty', 'add']);
    expect(seen).toContain('idle');
  });

  it('emits events in order with results and errors', async () => {
    const queue = new PQueue({ concurrency: 1 });
    const events: string[] = [];
    for (const name of ['add', 'active', 'next', 'completed', 'error', 'empty', 'idle', 'pendingZero'] as const) {
      queue.on(name, (...args: unknown[]) => events.push(args.length ? `${name}:${String(args[0])}` : name));
    }
    await queue.add(() => 'ok');
    await queue.add(() => Promise.reject(new Error('bad'))).catch(() => {});
    expect(events).toContain('completed:ok');
    expect(events).toContain('error:Error: bad');
    expect(events.indexOf('add')).toBeLessThan(events.indexOf('active'));
    expect(events.filter((e) => e === 'idle').length).toBeGreaterThanOrEqual(2);
  });

  it('onError rejects with the first task error and leaves no listener', async () => {
    const queue = new PQueue();
    const firstError = queue.onError();
    queue.add(() => Promise.reject(new Error('first'))).catch(() => {});
    await expect(firstError).rejects.toThrow('first');
    expect(queue.listenerCount('error')).toBe(0);
  });

  it('rateLimit / rateLimitCleared fire as the window closes and opens', async () => {
    const queue = new PQueue({ intervalCap: 1, interval: 100 });
    const limited = vi.fn();
    const cleared = vi.fn();
    queue.on('rateLimit', limited);
    queue.on('rateLimitCleared', cleared);
    queue.add(() => 1);
    const second = queue.add(() => 2);
    expect(limited).toHaveBeenCalledTimes(1);
    await queue.onRateLimit();
    const clearedPromise = queue.onRateLimitCleared();
    await vi.advanceTimersByTimeAsync(100);
    await clearedPromise;
    expect(cleared).toHaveBeenCalledTimes(1);
    await second;
  });

  it('queued tasks keep the AsyncLocalStorage context of add() (the default queue)', async () => {
    const als = new AsyncLocalStorage<string>();
    const queue = new PQueue({ concurrency: 1 });
    const gate = deferred();
    const first = als.run('first', () => queue.add(() => gate.promise));
    const second = als.run('second', () => queue.add(() => als.getStore()));
    gate.resolve();
    await first;
    expect(await second).toBe('second');
  });
});
