/**
 * The Redis parts on a real 3-node Redis Cluster (started by this file on
 * free loopback ports), through ioredis's `Cluster` and node-redis's
 * `createCluster`; and a client's programming error is never an outage.
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisClient, RedisRateLimiter, RedisSemaphore } from '../src/redis/index.js';
import { canStartRedis, OwnCluster } from './redisHelpers.js';

const available = await canStartRedis();
const minute = 60_000;

describe.skipIf(!available)('on a 3-node Redis Cluster', () => {
  let cluster: OwnCluster;
  let io: Cluster;
  let node: ReturnType<typeof createCluster>;
  beforeAll(async () => {
    cluster = await OwnCluster.start();
    io = new Cluster(cluster.nodes);
    node = createCluster({ rootNodes: cluster.nodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })) });
    node.on('error', () => {});
    await node.connect();
  }, 60_000);
  afterAll(async () => {
    io?.disconnect();
    await node?.close();
    await cluster?.stop();
  });

  const clients = () =>
    [
      ['ioredis Cluster', io as unknown as RedisClient],
      ['node-redis createCluster', node as unknown as RedisClient],
    ] as const;

  it('RedisRateLimiter decides exactly, with and without keys, whatever slot its name falls in', async () => {
    for (const [via, client] of clients()) {
      // Names in different slots, and names with braces (their hash tag stays valid).
      for (const name of [randomUUID(), randomUUID(), `}${randomUUID()}`, `a{b}c-${randomUUID()}`]) {
        const limiter = new RedisRateLimiter({ client, name, limits: { limit: 5, interval: minute, burst: 5 } });
        const plain = await Promise.all(Array.from({ length: 8 }, () => limiter.consume()));
        expect(plain.filter((d) => d.allowed).length, via).toBe(5);
        const keyed = await Promise.all(
          Array.from({ length: 12 }, (_, i) => limiter.consume({ key: `user-${i % 3}` })),
        );
        expect(keyed.filter((d) => d.allowed).length, via).toBe(12);
        expect(limiter.stats().unavailable, via).toBe(0);
        await limiter.close();
      }
    }
  });

  it('RedisSemaphore hands permits between two processes-worth of instances, one holder at a time', async () => {
    for (const [via, client] of clients()) {
      const name = randomUUID();
      const a = new RedisSemaphore({ client, name, permits: 1 });
      const b = new RedisSemaphore({ client, name, permits: 1 });
      let inside = 0;
      let most = 0;
      const tokens: number[] = [];
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? a : b).run(async ({ token }) => {
            inside++;
            most = Math.max(most, inside);
            tokens.push(token);
            await new Promise((resolve) => setImmediate(resolve));
            inside--;
          }),
        ),
      );
      expect(most, via).toBe(1);
      expect(new Set(tokens).size, via).toBe(20);
      expect(await a.holders(), via).toBe(0);
      expect(a.stats().unavailable + b.stats().unavailable, via).toBe(0);
      await a.close();
      await b.close();
    }
  }, 30_000);
});

describe('a programming error is not an outage', () => {
  it('an adapter that throws a TypeError reaches the caller as that error, even with fail-open', async () => {
    const broken = {
      command: () => {
        throw new TypeError('sendCommand called the wrong way');
      },
      subscribe: async () => async () => {},
    };
    const limiter = new RedisRateLimiter({
      client: broken,
      name: randomUUID(),
      limits: { limit: 1, interval: minute },
      onUnavailable: 'fail-open',
    });
    await expect(limiter.consume()).rejects.toThrow(TypeError);
    expect(limiter.stats().unavailable).toBe(0);
    const sem = new RedisSemaphore({ client: broken, name: randomUUID(), permits: 1 });
    await expect(sem.acquire()).rejects.toThrow('sendCommand called the wrong way');
    expect(sem.stats().unavailable).toBe(0);
    await sem.close();
  });

  it('an unsupported client is refused when the limiter is created', () => {
    expect(() => new RedisSemaphore({ client: { get: () => 1 } as never, name: 'x', permits: 1 })).toThrow(
      /Expected `client` to be an ioredis client/,
    );
    expect(() => new RedisRateLimiter({ client: 42 as never, name: 'x', limits: { limit: 1, interval: 1 } })).toThrow(
      /Expected `client` to be an ioredis or node-redis client, got `42`/,
    );
  });
});
