import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { batch, merge, Pool, Shutdown, transform } from '../src/index.js';
import { flush, track, useFakeTime } from './helpers.js';

afterEach(() => vi.useRealTimers());

describe('batch', () => {
  beforeEach(() => useFakeTime());

  it('groups by size, and yields a partial batch when its first item waited maxWait', async () => {
    async function* slow() {
      yield 1;
      yield 2;
      yield 3;
      await new Promise((resolve) => setTimeout(resolve, 100));
      yield 4;
    }
    const out: number[][] = [];
    const run = (async () => {
      for await (const group of batch(slow(), { maxBatch: 2, maxWait: 30 })) out.push(group);
    })();
    await flush();
    expect(out).toEqual([[1, 2]]);
    await vi.advanceTimersByTimeAsync(30);
    expect(out).toEqual([[1, 2], [3]]); // 3 waited 30 ms
    await vi.advanceTimersByTimeAsync(70);
    await run;
    expect(out).toEqual([[1, 2], [3], [4]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stopping early closes the source', async () => {
    let closed = false;
    async function* numbers() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    for await (const group of batch(numbers(), { maxBatch: 3 })) {
      expect(group).toEqual([0, 1, 2]);
      break;
    }
    expect(closed).toBe(true);
  });
});

describe('merge', () => {
  it('interleaves sources as items arrive and closes the rest on early exit', async () => {
    useFakeTime();
    const ticking = (name: string, every: number, n: number, log: string[]) =>
      (async function* () {
        try {
          for (let i = 0; i < n; i++) {
            await new Promise((resolve) => setTimeout(resolve, every));
            yield `${name}${i}`;
          }
        } finally {
          log.push(`${name} closed`);
        }
      })();
    const log: string[] = [];
    const seen: string[] = [];
    const run = (async () => {
      for await (const item of merge(ticking('a', 10, 5, log), ticking('b', 25, 5, log))) {
        seen.push(item);
        if (seen.length === 4) break;
      }
    })();
    await vi.advanceTimersByTimeAsync(100);
    await run;
    expect(seen).toEqual(['a0', 'a1', 'b0', 'a2']);
    expect(log.sort()).toEqual(['a closed', 'b closed']);
  });
});

describe('transform (a stream stage)', () => {
  it('maps inside stream.pipeline with bounded concurrency and backpressure', async () => {
    let inflight = 0;
    let max = 0;
    let produced = 0;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 200; i++) {
          produced++;
          yield i;
        }
      })(),
    );
    const received: number[] = [];
    await pipeline(
      source,
      transform(
        async (n: number) => {
          inflight++;
          max = Math.max(max, inflight);
          await new Promise((resolve) => setImmediate(resolve));
          inflight--;
          return n * 2;
        },
        { concurrency: 4 },
      ),
      new Writable({
        objectMode: true,
        highWaterMark: 1,
        write(chunk: number, _encoding, callback) {
          received.push(chunk);
          // A slow sink: the pipeline must not race ahead of it.
          expect(produced - received.length).toBeLessThan(64);
          setImmediate(callback);
        },
      }),
    );
    expect(received).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
    expect(max).toBe(4);
  });
});

describe('Shutdown', () => {
  beforeEach(() => useFakeTime());

  it('closes phase by phase, each within its share of the grace period; what is late is destroyed; reports it', async () => {
    const order: string[] = [];
    const part = (name: string, closeMs: number) => ({
      close: () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            order.push(`${name} closed at ${Date.now() - start}`);
            resolve();
          }, closeMs),
        ),
      destroy: () => {
        order.push(`${name} destroyed at ${Date.now() - start}`);
      },
    });
    const start = Date.now();
    const shutdown = new Shutdown({ gracePeriod: 1000 })
      .register('pool', part('pool', 100), { phase: 2 })
      .register('http', part('http', 200), { phase: 1 })
      .register('queue', part('queue', 5000), { phase: 1 });
    const report = track(shutdown.run('SIGTERM'));
    expect(shutdown.signal.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    // Phase 1 may take half of the 1000 ms (two phases to go): the queue is destroyed at 500, and
    // the pool still closes gracefully in the 500 ms left (before, phase 1 took it all and the pool
    // was destroyed unasked).
    expect(order).toEqual(['http closed at 200', 'queue destroyed at 500', 'pool closed at 600']);
    expect(report.value).toMatchObject({ reason: 'SIGTERM', graceful: false });
    expect(report.value?.steps.map((s) => `${s.name}:${s.outcome}`)).toEqual([
      'http:closed',
      'queue:destroyed',
      'pool:closed',
    ]);
    await vi.advanceTimersByTimeAsync(5000); // the abandoned close timers run out
    expect(shutdown.run()).toBe(shutdown.run());
  });

  it('a phase done early leaves its time to the next; a part may have its own timeout', async () => {
    const closes = (ms: number) => ({
      close: () => new Promise<void>((resolve) => setTimeout(resolve, ms)),
      destroy() {},
    });
    const shutdown = new Shutdown({ gracePeriod: 900 })
      .register('fast', closes(10), { phase: 0 })
      .register('slow', closes(800), { phase: 1 }) // 890 left, two phases: may take 445; it takes 800
      .register('own', closes(300), { phase: 2, timeout: 100 });
    const report = track(shutdown.run());
    await vi.advanceTimersByTimeAsync(900);
    await flush();
    expect(report.value?.steps.map((s) => `${s.name}:${s.outcome}:${Math.round(s.ms)}`)).toEqual([
      'fast:closed:10',
      'slow:destroyed:445',
      'own:destroyed:100',
    ]);
    expect(() => new Shutdown().register('x', closes(1), { timeout: -1 })).toThrow(/`timeout`/);
  });

  it('a part whose close() returns something that is not a promise fails its step, saying why; later phases still run', async () => {
    const chained = { close: () => chained }; // like net.Server's close(), which returns the server
    const after = { close: async () => {} };
    const report = await new Shutdown({ gracePeriod: 100 })
      .register('chained', chained)
      .register('after', after, { phase: 1 })
      .run();
    expect(report.steps[0]).toMatchObject({ name: 'chained', outcome: 'failed' });
    expect(report.steps[0]?.error).toBeInstanceOf(TypeError);
    expect(String(report.steps[0]?.error)).toMatch(/`chained`.close\(\) returned .*not a promise/);
    expect(report.steps[1]).toMatchObject({ name: 'after', outcome: 'closed' });
    expect(report.graceful).toBe(false);
  });

  it('works with the parts of this package (a Pool)', async () => {
    const pool = new Pool({ create: () => ({}), max: 2 });
    const lease = await pool.acquire();
    const shutdown = new Shutdown({ gracePeriod: 500 }).register('pool', pool);
    const report = track(shutdown.run());
    await flush();
    expect(report.state).toBe('pending'); // waiting for the lease
    lease.release();
    await flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(report.value?.graceful).toBe(true);
  });
});
