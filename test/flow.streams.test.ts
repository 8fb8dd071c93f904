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

  it('closes phase by phase within one deadline; what is late is destroyed; reports it', async () => {
    const order: string[] = [];
    const part = (name: string, closeMs: number) => ({
      close: () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            order.push(`${name} closed`);
            resolve();
          }, closeMs),
        ),
      destroy: () => {
        order.push(`${name} destroyed`);
      },
    });
    const shutdown = new Shutdown({ gracePeriod: 1000 })
      .register('pool', part('pool', 100), { phase: 2 })
      .register('http', part('http', 200), { phase: 1 })
      .register('queue', part('queue', 5000), { phase: 1 });
    const report = track(shutdown.run('SIGTERM'));
    expect(shutdown.signal.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1000); // phase 1 used the whole budget: queue was late
    await vi.advanceTimersByTimeAsync(0);
    await flush();
    expect(order).toEqual(['http closed', 'queue destroyed', 'pool destroyed']);
    expect(report.value).toMatchObject({ reason: 'SIGTERM', graceful: false });
    expect(report.value?.steps.map((s) => `${s.name}:${s.outcome}`)).toEqual([
      'http:closed',
      'queue:destroyed',
      'pool:destroyed',
    ]);
    await vi.advanceTimersByTimeAsync(5000); // the abandoned close timers run out
    expect(shutdown.run()).toBe(shutdown.run());
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
