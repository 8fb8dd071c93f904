/**
 * Bad input is refused where it is given, with an error that names the
 * option and the value (each of these was accepted before and failed later,
 * or never).
 */
import { describe, expect, it } from 'vitest';
import PQueue from '../src/compat/p-queue.js';
import {
  AdaptiveLimiter,
  batch,
  circuitBreaker,
  filter,
  forEach,
  limit,
  Mutex,
  map,
  merge,
  Pool,
  RateLimiter,
  retry,
  Semaphore,
  Shutdown,
  TaskQueue,
  timeout,
  transform,
} from '../src/index.js';

describe('bad input is refused at the call that received it', () => {
  it('a name that is not a non-empty string, on every part that takes one', () => {
    const message = new TypeError('Expected `name` to be a non-empty string, got `` (string)');
    expect(() => limit({ concurrency: 1, name: '' })).toThrow(message);
    expect(() => new TaskQueue({ name: '' })).toThrow(message);
    expect(() => new Semaphore(1, { name: '' })).toThrow(message);
    expect(() => new RateLimiter({ limits: { limit: 1, interval: 1000 }, name: '' })).toThrow(message);
    expect(() => new Pool({ create: () => ({}), name: '' })).toThrow(message);
    expect(() => new AdaptiveLimiter({ name: 7 as never })).toThrow(
      new TypeError('Expected `name` to be a non-empty string, got `7` (number)'),
    );
  });

  it('Pool: keepAliveInterval 0 (would validate in a loop)', () => {
    expect(() => new Pool({ create: () => ({}), keepAliveInterval: 0 })).toThrow(
      new RangeError('Expected `keepAliveInterval` to be a number of milliseconds > 0, got `0` (number)'),
    );
  });

  it('circuitBreaker: a breaker that is not a strategy', () => {
    expect(() => circuitBreaker({ breaker: 5 as never })).toThrow(
      new TypeError(
        'Expected `breaker` to be a breaker strategy (consecutiveFailures(), countWindow(), timeWindow()), got `5` (number)',
      ),
    );
  });

  it('TaskQueue.onWaitingBelow and PQueue.onSizeLessThan below 1 (would wait forever)', () => {
    expect(() => new TaskQueue().onWaitingBelow(0)).toThrow(
      new RangeError('Expected `limit` to be an integer >= 1 or Infinity, got `0` (number)'),
    );
    expect(() => new PQueue().onSizeLessThan(-1)).toThrow(
      new TypeError('Expected `limit` to be an integer >= 1 or Infinity, got `-1` (number)'),
    );
  });

  it('Mutex: a number where options go', () => {
    expect(() => new Mutex(5 as never)).toThrow(
      new TypeError('Expected `options` to be an object (a Mutex has one permit), got `5` (number)'),
    );
  });

  it('Shutdown: a signal that does not exist', () => {
    const listeners = process.listenerCount('SIGTERM');
    expect(() => new Shutdown({ signals: ['SIGTERM', 'SIGNOPE' as never] })).toThrow(
      new TypeError("Expected `signals[1]` to be a signal name such as 'SIGTERM', got `SIGNOPE` (string)"),
    );
    expect(process.listenerCount('SIGTERM')).toBe(listeners); // nothing registered by the refused one
  });

  it('batch, merge, map, filter, forEach and transform check their arguments before the first pull', () => {
    expect(() => batch([1], { maxBatch: 0 })).toThrow(/`maxBatch`.*`0`/);
    expect(() => merge([1], 5 as never)).toThrow(
      new TypeError('Expected `sources[1]` to be an iterable or an async iterable, got `5` (number)'),
    );
    expect(() => map([1], (x) => x, { concurrency: 0 })).toThrow(/`concurrency`.*`0`/);
    expect(() => filter([1], 'yes' as never)).toThrow(/`predicate`/);
    expect(() => forEach([1], (x) => x, { concurrency: -1 })).toThrow(/`concurrency`.*`-1`/);
    expect(() => transform((x) => x, { buffer: -1 })).toThrow(/`buffer`.*`-1`/);
    expect(() => transform('nope' as never)).toThrow(/`fn`/);
  });

  it('a policy given something that is not a function says what it got', () => {
    for (const policy of [retry(), timeout(100), circuitBreaker()]) {
      expect(() => policy.execute('x' as never)).toThrow(
        new TypeError('Expected `fn` to be a function, got `x` (string)'),
      );
    }
  });
});
