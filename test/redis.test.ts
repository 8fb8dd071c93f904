import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, LeaseLostError, TimeoutError } from '../src/index.js';
import { type RedisClient, RedisRateLimiter, RedisSemaphore, toRedisAdapter } from '../src/redis/index.js';
import { abortListeners } from './helpers.js';
import { child, ioredis, REDIS_URL } from './redisHelpers.js';

// These tests talk to a real Redis (REDIS_URL, default redis://127.0.0.1:6379).
// Server time cannot be faked, so they use limits whose windows are far longer
// than the test (exact counts) and assert order and counts, never durations.

let io: Redis;
let node: ReturnType<typeof createClient>;
beforeAll(async () => {
  io = ioredis();
  node = createClient({ url: REDIS_URL });
  await node.connect();
});
afterAll(async () => {
  io.disconnect();
  await node.close();
});

const unique = () => `test-${randomUUID()}`;
const minute = 60_000;

describe.each([
  ['ioredis', () => io as RedisClient],
  ['node-redis', () => node as unknown as RedisClient],
])('RedisRateLimiter through %s', (_name, client) => {
  it('GCRA: a burst of `limit`, then refused with a Retry-After from the server', async () => {
    const limiter = new RedisRateLimiter({
      client: client(),
      name: unique(),
      limits: { limit: 5, interval: minute, burst: 5 },
    });
    const decisions = [];
    for (let i = 0; i < 7; i++) decisions.push(await limiter.consume());
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0]);
    const refused = decisions[6];
    // One unit returns every 12 s; the server says how long is left of that.
    expect(refused?.retryAfter).toBeGreaterThan(10_000);
    expect(refused?.retryAfter).toBeLessThanOrEqual(12_000);
    expect(refused?.limit).toBe(5);
    expect(limiter.stats()).toMatchObject({ decisions: 7, admitted: 5, denied: 2, unavailable: 0 });
  });

  it('the default limit has no burst: one now, then one every interval / limit', async () => {
    const limiter = new RedisRateLimiter({ client: client(), name: unique(), limits: { limit: 5, interval: minute } });
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push(await limiter.consume());
    expect(decisions.map((d) => d.allowed)).toEqual([true, false, false]);
    expect(decisions[2]?.retryAfter).toBeGreaterThan(10_000);
    expect(decisions[2]?.retryAfter).toBeLessThanOrEqual(12_000);
  });

  it('token bucket and sliding window count exactly, with weights', async () => {
    const bucket = new RedisRateLimiter({
      client: client(),
      name: unique(),
      limits: { limit: 10, interval: minute, burst: 4, algorithm: 'token-bucket' },
    });
    expect((await bucket.consume({ weight: 3 })).allowed).toBe(true);
    expect((await bucket.consume({ weight: 2 })).allowed).toBe(false);
    expect((await bucket.consume({ weight: 1 })).remaining).toBe(0);
    const window = new RedisRateLimiter({
      client: client(),
      name: unique(),
      limits: { limit: 6, interval: minute, algorithm: 'sliding-window' },
    });
    expect((await window.consume({ weight: 4 })).allowed).toBe(true);
    expect((await window.consume({ weight: 3 })).allowed).toBe(false);
    const last = await window.consume({ weight: 2 });
    expect(last).toMatchObject({ allowed: true, remaining: 0 });
    expect(last.resetAfter).toBeGreaterThan(minute - 5000);
  });

  it('fixed windows on the server: the weight of a window expires with it', async () => {
    const name = unique();
    const limiter = new RedisRateLimiter({
      client: client(),
      name,
      limits: { limit: 3, interval: minute, algorithm: 'fixed-window' },
    });
    expect(await limiter.consume({ weight: 2 })).toMatchObject({ allowed: true, remaining: 1 });
    const denied = await limiter.consume({ weight: 2 });
    expect(denied).toMatchObject({ allowed: false, remaining: 1 });
    expect(denied.retryAfter).toBeGreaterThan(minute - 5000);
    expect(await limiter.consume({ weight: 1 })).toMatchObject({ allowed: true, remaining: 0 });
    const [key] = await io.keys(`*${name}*`);
    expect(Number(await io.get(key as string))).toBe(3);
    expect(await io.pttl(key as string)).toBeGreaterThan(minute - 5000);
  });

  it("one GCRA limit (the script's fast path) decides as the general path does", async () => {
    const limits = { limit: 3, interval: 60_000, burst: 3 };
    const fast = new RedisRateLimiter({ client: io, name: unique(), limits });
    // A second limit that never binds sends the same limit down the general path.
    const general = new RedisRateLimiter({
      client: io,
      name: unique(),
      limits: [limits, { limit: 1e9, interval: 1000, burst: 1e9 }],
    });
    const costs = [1, 2, 1, 1, 3, 1];
    const decide = async (limiter: RedisRateLimiter, key?: string) => {
      const out = [];
      for (const weight of costs) {
        const d = await limiter.consume({ key, weight });
        out.push([d.allowed, d.remaining, d.limit, d.retryAfter > 0, d.resetAfter > 0]);
      }
      // And a burst decided in one batch (several decisions per script call).
      const batch = await Promise.all(costs.map((weight) => limiter.consume({ key: `${key}-batch`, weight })));
      return [...out, ...batch.map((d) => [d.allowed, d.remaining, d.limit])];
    };
    const expected = await decide(general, 'k');
    expect(await decide(fast, 'k')).toEqual(expected);
    expect(expected.slice(0, 6).map((d) => d[0])).toEqual([true, true, false, false, false, false]);
    await fast.close();
    await general.close();
  });

  it('several limits are all-or-nothing, in one script', async () => {
    const name = unique();
    const limiter = new RedisRateLimiter({
      client: client(),
      name,
      limits: [
        { limit: 5, interval: minute, burst: 5 },
        { limit: 3, interval: minute, algorithm: 'sliding-window' },
      ],
    });
    const allowed = [];
    for (let i = 0; i < 5; i++) allowed.push((await limiter.consume()).allowed);
    expect(allowed).toEqual([true, true, true, false, false]);
    // The GCRA limit was charged for the 3 admitted calls only: its next
    // arrival time is 3 emission intervals (3 x 12 s) ahead, not 5.
    const keys = await io.keys(`sluice:rate:{${name}}:*`);
    const gcraKey = keys.find((k) => k.endsWith(':0')) as string;
    const [seconds, micros] = await io.time();
    const ahead = Number(await io.get(gcraKey)) - (Number(seconds) * 1000 + Number(micros) / 1000);
    expect(ahead).toBeGreaterThan(35_000);
    expect(ahead).toBeLessThanOrEqual(36_000);
  });

  it('keys are per key and expire by themselves', async () => {
    const name = unique();
    const limiter = new RedisRateLimiter({ client: client(), name, limits: { limit: 1, interval: 500 } });
    expect((await limiter.for('a').consume()).allowed).toBe(true);
    expect((await limiter.for('a').consume()).allowed).toBe(false);
    expect((await limiter.for('b').consume()).allowed).toBe(true);
    for (const key of await io.keys(`sluice:rate:{${name}}:*`)) {
      const ttl = await io.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(500);
    }
  });

  it('acquire waits for the server-side slot, FIFO within the process', async () => {
    const limiter = new RedisRateLimiter({
      client: client(),
      name: unique(),
      limits: { limit: 20, interval: 1000, burst: 1 },
    });
    const order: number[] = [];
    await Promise.all(Array.from({ length: 4 }, (_, i) => limiter.acquire().then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2, 3]);
    expect(limiter.stats()).toMatchObject({ admitted: 4, waiting: 0 });
    await expect(limiter.acquire({ timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
  });
});

describe('RedisRateLimiter', () => {
  it('batches the decisions of one tick into one script call, decided in call order', async () => {
    const counting = (commands: string[]) => {
      const inner = toRedisAdapter(io);
      return {
        ...inner,
        command: (args: readonly string[]) => {
          commands.push(args[0] as string);
          return inner.command(args);
        },
      };
    };
    const batched: string[] = [];
    const limiter = new RedisRateLimiter({
      client: counting(batched),
      name: unique(),
      limits: { limit: 5, interval: minute, burst: 5 },
    });
    const decisions = await Promise.all(Array.from({ length: 12 }, (_, i) => limiter.consume({ key: i % 2 })));
    expect(decisions.map((d) => d.allowed)).toEqual([...Array(10).fill(true), false, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 4, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0]);
    expect(batched.filter((c) => c === 'EVALSHA' || c === 'EVAL')).toHaveLength(1);

    const single: string[] = [];
    const unbatched = new RedisRateLimiter({
      client: counting(single),
      name: unique(),
      limits: { limit: 5, interval: minute, burst: 5 },
      maxBatch: 1,
    });
    await Promise.all(Array.from({ length: 6 }, () => unbatched.consume()));
    expect(single.filter((c) => c === 'EVALSHA' || c === 'EVAL')).toHaveLength(6);

    const small: string[] = [];
    const chunked = new RedisRateLimiter({
      client: counting(small),
      name: unique(),
      limits: { limit: 5, interval: minute, burst: 5 },
      maxBatch: 4,
    });
    const chunkedDecisions = await Promise.all(Array.from({ length: 10 }, () => chunked.consume()));
    expect(chunkedDecisions.filter((d) => d.allowed)).toHaveLength(5);
    expect(small.filter((c) => c === 'EVALSHA' || c === 'EVAL')).toHaveLength(3);
  });

  it('survives SCRIPT FLUSH: the next call reloads the script transparently', async () => {
    const limiter = new RedisRateLimiter({
      client: io,
      name: unique(),
      limits: { limit: 3, interval: minute, burst: 3 },
    });
    expect((await limiter.consume()).allowed).toBe(true);
    await io.script('FLUSH');
    const before = limiter.stats().scriptReloads;
    const decisions = await Promise.all([limiter.consume(), limiter.consume(), limiter.consume()]);
    expect(decisions.map((d) => d.allowed).sort()).toEqual([false, true, true]);
    expect(limiter.stats().scriptReloads).toBeGreaterThan(before);
  });

  it('several processes share one limit and together never exceed it (counted server-side)', async () => {
    const name = unique();
    const limits = { limit: 40, interval: minute, algorithm: 'sliding-window' };
    const children = Array.from({ length: 4 }, () =>
      child<{ allowed: number }>({ mode: 'consume', url: REDIS_URL, name, limits, calls: 30 }),
    );
    const results = await Promise.all(children.map((c) => c.result));
    expect(results.reduce((sum, r) => sum + r.allowed, 0)).toBe(40);
    const [key] = (await io.keys(`sluice:rate:{${name}}:*`)).filter((k) => k.endsWith(':0'));
    expect(await io.zcard(key as string)).toBe(40);
  }, 30_000);

  it('aborting a waiting call removes it and its listener', async () => {
    const limiter = new RedisRateLimiter({ client: io, name: unique(), limits: { limit: 1, interval: minute } });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    controller.abort(new Error('no longer needed'));
    await expect(waiting).rejects.toThrow('no longer needed');
    expect(abortListeners(controller.signal)).toBe(0);
    expect(limiter.stats().waiting).toBe(0);
    await expect(limiter.acquire({ timeout: 1000 })).rejects.toThrow(/exceeds the timeout of 1000 ms/);
  });

  it('validates its options', () => {
    expect(() => new RedisRateLimiter({ client: {} as never, name: 'x', limits: { limit: 1, interval: 1 } })).toThrow(
      /Expected `client` to be an ioredis client/,
    );
    expect(() => new RedisRateLimiter({ client: io, name: '', limits: { limit: 1, interval: 1 } })).toThrow(
      new TypeError('Expected `name` to be a non-empty string, got `` (string)'),
    );
    expect(
      () =>
        new RedisRateLimiter({
          client: io,
          name: 'x',
          limits: { limit: 1, interval: 1 },
          onUnavailable: 'open' as never,
        }),
    ).toThrow(/Expected `onUnavailable` to be one of 'fail-closed', 'fail-open', 'local', got `open`/);
  });
});

describe('Redis key names', () => {
  it("no key and the key '' are two keys; a name with `}:` cannot reach another limiter's keys", async () => {
    const name = unique();
    const limits = { limit: 1, interval: 60_000 };
    const limiter = new RedisRateLimiter({ client: io, name, limits });
    expect((await limiter.consume()).allowed).toBe(true);
    expect((await limiter.consume({ key: '' })).allowed).toBe(true); // its own budget
    expect((await limiter.consume({ key: '' })).allowed).toBe(false);
    // Before the names were encoded, these two spelled the same Redis key.
    const plain = new RedisRateLimiter({ client: io, name, limits });
    const crafted = new RedisRateLimiter({ client: io, name: `${name}}:g1/60000/1:kk`, limits });
    expect((await plain.consume({ key: 'kk}:g1/60000/1:z' })).allowed).toBe(true);
    expect((await crafted.consume({ key: 'z' })).allowed).toBe(true);
    await Promise.all([limiter.close(), plain.close(), crafted.close()]);
  });

  it('a prefix with a brace is refused, naming the option', () => {
    expect(
      () => new RedisRateLimiter({ client: io, name: 'x', limits: { limit: 1, interval: 1 }, prefix: 'app:{x}:' }),
    ).toThrow('Expected `prefix` to be a string without `{` or `}`, got `app:{x}:`');
    expect(() => new RedisSemaphore({ client: io, name: 'x', permits: 1, prefix: '{' })).toThrow(/`prefix`/);
  });
});

describe('RedisSemaphore', () => {
  it('hands out monotonic fencing tokens; tryAcquire never jumps the queue', async () => {
    const sem = new RedisSemaphore({ client: io, name: unique(), permits: 1 });
    const a = await sem.acquire();
    expect(await sem.tryAcquire()).toBeUndefined();
    const waiting = sem.acquire();
    await a.release();
    const b = await waiting;
    expect(b.token).toBeGreaterThan(a.token);
    await b.release();
    const c = (await sem.tryAcquire()) as NonNullable<Awaited<ReturnType<typeof sem.tryAcquire>>>;
    expect(c.token).toBeGreaterThan(b.token);
    await c.release();
    await c.release(); // idempotent
    expect(await sem.holders()).toBe(0);
    await sem.close();
  });

  it('serves waiters in order and wakes them by pub/sub on release', async () => {
    const sem = new RedisSemaphore({ client: node as unknown as RedisClient, name: unique(), permits: 2 });
    const held = [await sem.acquire(), await sem.acquire()];
    const order: number[] = [];
    const waiting = Array.from({ length: 4 }, (_, i) =>
      sem.acquire().then(async (lease) => {
        order.push(i);
        await lease.release();
      }),
    );
    expect(sem.stats().waiting).toBe(4); // waiting from the call on, also during the first round trip
    await new Promise((resolve) => setImmediate(resolve));
    for (const lease of held) await lease.release();
    await Promise.all(waiting);
    expect(order.slice(0, 2).sort()).toEqual([0, 1]);
    expect(order.slice(2).sort()).toEqual([2, 3]);
    await sem.close();
  });

  it('never more than N holders across processes', async () => {
    const name = unique();
    const children = Array.from({ length: 3 }, () =>
      child<{ tokens: number[] }>({ mode: 'work', url: REDIS_URL, name, permits: 2, runs: 8 }),
    );
    const results = await Promise.all(children.map((c) => c.result));
    expect(Number(await io.get(`${name}:max`))).toBe(2);
    const tokens = results.flatMap((r) => r.tokens);
    expect(new Set(tokens).size).toBe(24);
  }, 30_000);

  it('a holder killed with SIGKILL gives its permit back after the lease TTL', async () => {
    const name = unique();
    const holder = child<{ token: number }>({ mode: 'hold', url: REDIS_URL, name, permits: 1, leaseTtl: 1500 });
    holder.result.catch(() => {}); // it is killed on purpose
    const { token } = await holder.firstLine;
    holder.process.kill('SIGKILL');
    await once(holder.process, 'exit');
    const sem = new RedisSemaphore({ client: io, name, permits: 1, leaseTtl: 1500 });
    expect(await sem.tryAcquire()).toBeUndefined(); // still leased
    const lease = await sem.acquire({ timeout: 10_000 });
    expect(lease.token).toBeGreaterThan(token);
    await lease.release();
    await sem.close();
  }, 20_000);

  it('a lease that is lost aborts its signal with LeaseLostError', async () => {
    const name = unique();
    const sem = new RedisSemaphore({ client: io, name, permits: 1, leaseTtl: 300 });
    await sem.run(async ({ signal, token }) => {
      expect(token).toBeGreaterThan(0);
      await io.del(`sluice:sem:{${name}}:holders`); // as after a failover that lost the grant
      await once(signal, 'abort');
      expect(signal.reason).toBeInstanceOf(LeaseLostError);
    });
    expect(sem.stats().lost).toBe(1);
    await sem.close();
  }, 10_000);

  it("run: the work sees the caller's abort, and no listener outlives the call", async () => {
    const sem = new RedisSemaphore({ client: io, name: unique(), permits: 1 });
    const controller = new AbortController();
    const reason = await sem.run(
      async ({ signal }) => {
        queueMicrotask(() => controller.abort(new Error('caller gave up')));
        await once(signal, 'abort');
        return (signal.reason as Error).message;
      },
      { signal: controller.signal },
    );
    expect(reason).toBe('caller gave up');
    expect(abortListeners(controller.signal)).toBe(0);
    expect(await sem.holders()).toBe(0);
    await sem.close();
  });

  it('abort and timeout leave the Redis-side queue', async () => {
    const name = unique();
    const sem = new RedisSemaphore({ client: io, name, permits: 1 });
    const lease = await sem.acquire();
    const controller = new AbortController();
    const aborted = sem.acquire({ signal: controller.signal });
    const timed = sem.acquire({ timeout: 50 });
    await expect(timed).rejects.toBeInstanceOf(TimeoutError);
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    expect(abortListeners(controller.signal)).toBe(0);
    // The cancels are fire-and-forget; a release round trip orders after them.
    await lease.release();
    expect(await io.zcard(`sluice:sem:{${name}}:queue`)).toBe(0);
    expect(sem.stats()).toMatchObject({ waiting: 0, running: 0, timedOut: 1, aborted: 1 });
    await sem.close();
  });

  it('close rejects waiters and resolves once leases are back', async () => {
    const sem = new RedisSemaphore({ client: io, name: unique(), permits: 1 });
    const lease = await sem.acquire();
    const waiting = sem.acquire();
    await new Promise((resolve) => setImmediate(resolve));
    let closed = false;
    const closing = sem.close().then(() => {
      closed = true;
    });
    await expect(waiting).rejects.toMatchObject({ code: 'SLUICE_CLOSED' });
    expect(closed).toBe(false);
    await lease.release();
    await closing;
    await expect(sem.acquire()).rejects.toMatchObject({ code: 'SLUICE_CLOSED' });
  });

  it('fails closed when Redis does not answer', async () => {
    const dead = { command: () => new Promise<never>(() => {}), subscribe: () => new Promise<never>(() => {}) };
    const sem = new RedisSemaphore({ client: dead, name: unique(), permits: 1, commandTimeout: 50 });
    await expect(sem.acquire()).rejects.toBeInstanceOf(BackendUnavailableError);
    await sem.close();
  });
});
