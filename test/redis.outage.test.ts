import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError } from '../src/index.js';
import { type RedisClient, RedisRateLimiter, RedisSemaphore } from '../src/redis/index.js';
import { canStartRedis, OwnRedis } from './redisHelpers.js';

// A private redis-server per file, so stopping and restarting it cannot
// disturb the other tests. Needs the redis-server binary (CI has it).
const available = await canStartRedis();
const minute = 60_000;

describe.skipIf(!available)('when Redis goes away', () => {
  let server: OwnRedis;
  beforeAll(async () => {
    server = await OwnRedis.start();
  });
  afterAll(async () => {
    await server.stop();
  });

  const connect = () => {
    const client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    client.on('error', () => {}); // connection errors are expected here
    return client;
  };

  it('Redis stopped: each failure policy answers within its command timeout, none hangs', async () => {
    const client = connect();
    const nodeClient = createClient({ url: server.url, socket: { reconnectStrategy: () => 50 } });
    nodeClient.on('error', () => {});
    await nodeClient.connect();
    const make = (onUnavailable: 'fail-closed' | 'fail-open' | 'local', via: RedisClient = client) =>
      new RedisRateLimiter({
        client: via,
        name: randomUUID(),
        limits: { limit: 100, interval: minute, burst: 100 },
        localLimits: { limit: 2, interval: minute, burst: 2 },
        onUnavailable,
        commandTimeout: 200,
      });
    const closed = make('fail-closed');
    const open = make('fail-open');
    const local = make('local');
    const viaNodeRedis = make('fail-closed', nodeClient as unknown as RedisClient);
    const sem = new RedisSemaphore({ client, name: randomUUID(), permits: 1, commandTimeout: 200 });
    for (const limiter of [closed, open, local, viaNodeRedis]) expect((await limiter.consume()).allowed).toBe(true);
    const lease = await sem.acquire();
    await lease.release();

    await server.stop();

    await expect(closed.consume()).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(closed.acquire()).rejects.toMatchObject({ code: 'SLUICE_BACKEND_UNAVAILABLE' });
    await expect(viaNodeRedis.consume()).rejects.toBeInstanceOf(BackendUnavailableError);
    expect((await open.consume()).allowed).toBe(true);
    const localDecisions = [await local.consume(), await local.consume(), await local.consume()];
    expect(localDecisions.map((d) => d.allowed)).toEqual([true, true, false]);
    expect(localDecisions[2]?.retryAfter).toBeGreaterThan(0);
    await expect(local.acquire({ timeout: 0 })).rejects.toMatchObject({ code: 'SLUICE_TIMEOUT' });
    await expect(sem.acquire()).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(closed.stats().unavailable).toBe(2);
    expect(local.stats().unavailable).toBe(4);

    await server.start();
    client.disconnect();
    nodeClient.destroy();
    await sem.close();
  }, 20_000);

  it('SCRIPT FLUSH and a restart mid-run: nothing lost, and no more than one extra window after the restart', async () => {
    const client = connect();
    const name = randomUUID();
    const limiter = new RedisRateLimiter({
      client,
      name,
      limits: { limit: 20, interval: minute, algorithm: 'sliding-window' },
      commandTimeout: 300,
    });
    const countAllowed = async (calls: number) => {
      let allowed = 0;
      for (let i = 0; i < calls; i++) if ((await limiter.consume()).allowed) allowed++;
      return allowed;
    };
    const serverCount = async () => {
      const [key] = (await client.keys(`sluice:rate:{${name}}:*`)).filter((k) => k.endsWith(':0'));
      return key === undefined ? 0 : client.zcard(key);
    };

    expect(await countAllowed(15)).toBe(15);
    await client.script('FLUSH');
    expect(await countAllowed(15)).toBe(5); // state kept, script reloaded
    expect(await serverCount()).toBe(20);

    // (not events.once: it would reject on the expected 'error' events)
    const ready = new Promise((resolve) => client.once('ready', resolve));
    await server.stop();
    await expect(limiter.consume()).rejects.toBeInstanceOf(BackendUnavailableError);
    await server.start();
    await ready;

    // The restarted server (no persistence) forgot the window: up to one more
    // window's worth passes. The call that timed out during the outage may be
    // counted on reconnect without having been admitted, never the reverse.
    const after = await countAllowed(30);
    const counted = await serverCount();
    expect(after).toBeLessThanOrEqual(20);
    expect(counted).toBe(20);
    expect(after).toBeGreaterThanOrEqual(19);
    expect(limiter.stats().scriptReloads).toBeGreaterThanOrEqual(2);
    client.disconnect();
  }, 20_000);
});
