/**
 * `sluice/otel` with the OpenTelemetry SDK's own reader, collecting on demand:
 * counters and histograms from the admission channel (a Semaphore, a
 * RateLimiter, a Pool and a RedisSemaphore on a real Redis), gauges from
 * `stats()`, and nothing more after `close()`.
 */
import { randomUUID } from 'node:crypto';
import { type DataPoint, type Histogram, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, describe, expect, it } from 'vitest';
import { Pool, RateLimiter, Semaphore, TimeoutError } from '../src/index.js';
import { sluiceMetrics } from '../src/otel/index.js';
import { RedisSemaphore } from '../src/redis/index.js';
import { ioredis } from './redisHelpers.js';

/** A reader that exports nothing: the test calls `collect()`. */
class OnDemandReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function read(reader: OnDemandReader) {
  const { resourceMetrics } = await reader.collect();
  const points = new Map<string, DataPoint<number | Histogram>[]>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics)
      points.set(metric.descriptor.name, metric.dataPoints as DataPoint<number | Histogram>[]);
  }
  /** The value (a sum or a gauge) or the histogram of `name` for the point whose attributes include `where`. */
  return (name: string, where: Record<string, string>) =>
    points.get(name)?.find((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))?.value;
}

describe('sluice/otel', () => {
  const redis = ioredis();
  afterAll(async () => {
    await redis.quit();
  });

  it('counts admissions and refusals, times waits and holds, and observes gauges, per part', async () => {
    const reader = new OnDemandReader();
    const provider = new MeterProvider({ readers: [reader] });
    const sem = new Semaphore(2, { name: 'db' });
    const rate = new RateLimiter({ limits: { limit: 1, interval: 60_000 }, name: 'api' });
    const pool = new Pool({ create: () => ({}), max: 1, name: 'conns' });
    const shared = new RedisSemaphore({ client: redis, name: `otel-${randomUUID()}`, permits: 1 });
    const metrics = sluiceMetrics({ meter: provider.getMeter('test'), parts: [sem, rate, pool, shared] });
    try {
      const a = await sem.acquire();
      const b = await sem.acquire();
      const queued = sem.acquire();
      a.release();
      (await queued).release();
      await rate.run(() => 1);
      await expect(rate.acquire({ timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
      await pool.use(() => 1);
      const lease = await shared.acquire();
      await expect(shared.acquire({ timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);

      const value = await read(reader);
      const db = { 'sluice.part.kind': 'Semaphore', 'sluice.part.name': 'db' };
      expect(value('sluice.admissions', db)).toBe(3);
      const waits = value('sluice.wait.duration', { ...db, 'sluice.outcome': 'admitted' }) as Histogram;
      expect(waits.count).toBe(3);
      expect((value('sluice.hold.duration', db) as Histogram).count).toBe(2);
      expect(value('sluice.running', db)).toBe(1); // b is still held
      expect(value('sluice.waiting', db)).toBe(0);
      expect(value('sluice.limit', db)).toBe(2);

      const api = { 'sluice.part.kind': 'RateLimiter', 'sluice.part.name': 'api' };
      expect(value('sluice.admissions', api)).toBe(1);
      expect(value('sluice.rejections', { ...api, 'sluice.rejection.reason': 'timeout' })).toBe(1);
      expect(value('sluice.running', api)).toBe(0);
      expect(value('sluice.limit', api)).toBeUndefined(); // a rate has no concurrency limit

      const conns = { 'sluice.part.kind': 'Pool', 'sluice.part.name': 'conns' };
      expect(value('sluice.admissions', conns)).toBe(1);
      expect((value('sluice.hold.duration', conns) as Histogram).count).toBe(1);

      const redisPart = { 'sluice.part.kind': 'RedisSemaphore' };
      expect(value('sluice.admissions', redisPart)).toBe(1);
      expect(value('sluice.rejections', { ...redisPart, 'sluice.rejection.reason': 'timeout' })).toBe(1);
      expect(value('sluice.running', redisPart)).toBe(1);

      await lease.release();
      b.release();
      metrics.close();
      (await sem.acquire()).release(); // not counted any more
      const after = await read(reader);
      expect(after('sluice.admissions', db)).toBe(3);
    } finally {
      metrics.close();
      await shared.close();
      await pool.close();
      await provider.shutdown();
    }
  });

  it('refuses what is not a Meter or not a part, naming the option', () => {
    expect(() => sluiceMetrics({ meter: {} as never })).toThrow(
      new TypeError('Expected `meter` to be an OpenTelemetry Meter, got `[object Object]` (object)'),
    );
    const meter = new MeterProvider().getMeter('test');
    expect(() => sluiceMetrics({ meter, parts: [{ stats: () => ({ running: 0, waiting: 0 }) }] })).toThrow(
      /Expected `parts\[0\]` to be a sluice part with stats\(\)/,
    );
  });
});
