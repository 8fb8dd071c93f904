import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deque } from '../src/core/Deque.js';
import {
  ClearedError,
  ClosedError,
  Mutex,
  QueueFullError,
  Semaphore,
  SluiceError,
  TimeoutError,
} from '../src/index.js';
import { flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

describe('Mutex', () => {
  it('runs critical sections one at a time in arrival order', async () => {
    const mutex = new Mutex();
    const log: string[] = [];
    const section = (name: string) =>
      mutex.run(async () => {
        log.push(`${name}:in`);
        await new Promise((resolve) => setTimeout(resolve, 10));
        log.push(`${name}:out`);
      });
    const all = Promise.all([section('a'), section('b'), section('c')]);
    expect(mutex.locked).toBe(true);
    expect(mutex.waiting).toBe(2);
    await vi.runAllTimersAsync();
    await all;
    expect(log).toEqual(['a:in', 'a:out', 'b:in', 'b:out', 'c:in', 'c:out']);
    expect(mutex.locked).toBe(false);
  });

  it('a re-entrant run() waits for itself (not detected); with a timeout it rejects, naming the part, and the mutex recovers', async () => {
    const mutex = new Mutex();
    const semaphore = new Semaphore(1);
    const nested = track(mutex.run(() => mutex.run(() => 'inner', { timeout: 500 })));
    const nestedSemaphore = track(semaphore.run(() => semaphore.run(() => 'inner', { timeout: 500 })));
    await vi.advanceTimersByTimeAsync(499);
    expect([nested.state, nestedSemaphore.state]).toEqual(['pending', 'pending']);
    await vi.advanceTimersByTimeAsync(1);
    expect(nested.error).toBeInstanceOf(TimeoutError);
    expect((nested.error as Error).message).toMatch(/^Mutex acquire timed out after 500 ms/);
    expect(nestedSemaphore.error).toBeInstanceOf(TimeoutError);
    expect((nestedSemaphore.error as Error).message).toMatch(/^Semaphore acquire timed out after 500 ms/);
    // The outer runs ended with the inner failure and gave their permits back.
    expect([mutex.locked, semaphore.available]).toEqual([false, 1]);
    expect(await mutex.run(() => 'next')).toBe('next');
  });

  it('lock/tryLock/timeout/close', async () => {
    const mutex = new Mutex();
    const permit = await mutex.lock();
    expect(mutex.tryLock()).toBeUndefined();
    const timed = track(mutex.lock({ timeout: 100 }));
    vi.advanceTimersByTime(100);
    await flush();
    expect(timed.error).toBeInstanceOf(TimeoutError);
    const waiting = track(mutex.lock());
    const closed = mutex.close();
    await flush();
    expect(waiting.error).toBeInstanceOf(ClosedError);
    permit.release();
    await closed;
  });
});

describe('errors', () => {
  it('carry stable codes and names, and instanceof works by brand', () => {
    const cases = [
      [new TimeoutError('t'), 'SLUICE_TIMEOUT', 'TimeoutError', TimeoutError],
      [new QueueFullError('q'), 'SLUICE_QUEUE_FULL', 'QueueFullError', QueueFullError],
      [new ClosedError('c'), 'SLUICE_CLOSED', 'ClosedError', ClosedError],
      [new ClearedError('x'), 'SLUICE_CLEARED', 'ClearedError', ClearedError],
    ] as const;
    for (const [error, code, name, type] of cases) {
      expect(error.code).toBe(code);
      expect(error.name).toBe(name);
      expect(error).toBeInstanceOf(SluiceError);
      expect(error).toBeInstanceOf(Error);
      expect(error).toBeInstanceOf(type);
    }
    expect(new TimeoutError('t')).not.toBeInstanceOf(QueueFullError);
    expect(new Error('plain')).not.toBeInstanceOf(SluiceError);
    // An error from another copy of the package: same brand, different class.
    const foreign = Object.assign(new Error('other copy'), { code: 'SLUICE_TIMEOUT' });
    Object.defineProperty(foreign, Symbol.for('sluice.error'), { value: true });
    expect(foreign).toBeInstanceOf(TimeoutError);
    expect(foreign).toBeInstanceOf(SluiceError);
    expect(foreign).not.toBeInstanceOf(ClosedError);
  });
});

describe('Deque', () => {
  it('behaves as a queue (and stack at the tail) across growth and wrap-around', () => {
    const deque = new Deque<number>(4);
    const model: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const r = (i * 7919) % 5;
      if (r === 1) expect(deque.shift()).toBe(model.shift());
      else if (r === 2) expect(deque.pop()).toBe(model.pop());
      else {
        deque.push(i);
        model.push(i);
      }
      expect(deque.length).toBe(model.length);
      expect(deque.peek()).toBe(model[0]);
    }
    expect([...deque]).toEqual(model);
    deque.filterInPlace((v) => v % 2 === 0);
    expect([...deque]).toEqual(model.filter((v) => v % 2 === 0));
    expect(deque.peek()).toBe(model.filter((v) => v % 2 === 0)[0]);
    deque.clear();
    expect(deque.length).toBe(0);
    expect(deque.shift()).toBeUndefined();
  });
});

describe('messages name the part', () => {
  it('a Mutex says Mutex; a named Semaphore says its name; a bad name is refused', async () => {
    const mutex = new Mutex();
    const held = await mutex.lock();
    await expect(mutex.lock({ timeout: 0 })).rejects.toThrow(/^Mutex acquire timed out after 0 ms/);
    held.release();
    const db = new Semaphore(1, { name: 'orders-db' });
    const permit = await db.acquire();
    await expect(db.acquire({ timeout: 0 })).rejects.toThrow(/^orders-db acquire timed out after 0 ms/);
    permit.release();
    expect(() => new Semaphore(1, { name: '' })).toThrow('Expected `name` to be a non-empty string, got `` (string)');
  });
});
