/**
 * RedisSemaphore at scale and under faults, against a private redis-server on
 * a free loopback port (stopped, restarted and paused by these tests only):
 * many waiters in several processes, requests held up by CLIENT PAUSE or a
 * stopped server, a holder cut off by a proxy, a restart without persistence.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, type Clock, LeaseLostError } from '../src/index.js';
import { type RedisClient, RedisSemaphore } from '../src/redis/index.js';
import { canStartRedis, child, DropProxy, OwnRedis } from './redisHelpers.js';

const available = await canStartRedis();
const fixture = new URL('./fixtures/redis-child.mjs', import.meta.url).pathname;

describe.skipIf(!available)('RedisSemaphore at scale and under faults', () => {
  let server: OwnRedis;
  let admin: Redis;
  const clients: Redis[] = [];
  const connect = (url = server.url, options: Record<string, unknown> = {}) => {
    const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 50, ...options });
    client.on('error', () => {}); // outages are made on purpose here
    clients.push(client);
    return client;
  };
  const keys = (name: string) => ({
    holders: `sluice:sem:{${name}}:holders`,
    queue: `sluice:sem:{${name}}:queue`,
    grants: `sluice:sem:{${name}}:grants`,
  });
  /** Holders, queued ids and recorded grants of `name`, read after everything sent before has run. */
  const remote = async (name: string) => {
    const k = keys(name);
    return {
      holders: await admin.zcard(k.holders),
      queued: await admin.zcard(k.queue),
      grants: await admin.hlen(k.grants),
    };
  };

  beforeAll(async () => {
    server = await OwnRedis.start();
    admin = new Redis(server.url, { retryStrategy: () => 50 });
    admin.on('error', () => {});
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    admin.disconnect();
    await server.stop();
  });

  /** `procs` processes, each with `waiters` callers holding a permit of 50 for 20 ms. */
  async function crowd(procs: number, waiters: number) {
    const name = randomUUID();
    await admin.call('CONFIG', 'RESETSTAT');
    const results = await Promise.all(
      Array.from(
        { length: procs },
        () =>
          child<{ log: [number, number, number][]; failures: number; firstFailure?: string }>({
            mode: 'crowd',
            url: server.url,
            name,
            permits: 50,
            waiters,
            hold: 20,
          }).result,
      ),
    );
    const info = String(await admin.call('INFO', 'commandstats'));
    const calls = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
    // Entries and exits on one machine's clock; at the same ms an exit sorts first (a release runs before the grant it makes).
    const events = results.flatMap((r) => r.log).sort((a, b) => a[0] - b[0] || a[2] - b[2]);
    let inside = 0;
    let most = 0;
    for (const [, , step] of events) {
      inside += step;
      most = Math.max(most, inside);
    }
    return {
      failures: results.reduce((sum, r) => sum + r.failures, 0),
      firstFailure: results.find((r) => r.firstFailure)?.firstFailure,
      granted: events.filter((e) => e[2] === 1).length,
      tokens: new Set(events.map((e) => e[1])).size,
      most,
      scriptsPerAcquire: (calls('evalsha') + calls('eval')) / (procs * waiters),
    };
  }

  it('3 processes x 1,500 waiters on 50 permits: none fails, never more than 50 hold, and an acquire costs the same few script calls as with 100 waiters', async () => {
    await crowd(1, 50); // loads the scripts, so neither measured run pays the NOSCRIPT reloads
    const small = await crowd(3, 100);
    const large = await crowd(3, 1500);
    expect(large.firstFailure).toBeUndefined();
    expect(large.failures).toBe(0);
    expect(large.granted).toBe(4500);
    expect(large.tokens).toBe(4500);
    expect(large.most).toBeLessThanOrEqual(50);
    expect(small.most).toBeLessThanOrEqual(50);
    // acquire + confirm + release; before the hand-off, every release had every process re-ask for every waiter (78 per acquire here).
    expect(large.scriptsPerAcquire).toBeLessThanOrEqual(4);
    expect(large.scriptsPerAcquire).toBeLessThanOrEqual(small.scriptsPerAcquire * 1.25);
  }, 60_000);

  it('faults in one run (CLIENT PAUSE, SCRIPT FLUSH, a holder process SIGKILLed): checked offline, never more than N live holders, every caller answered, nothing left', async () => {
    const name = randomUUID();
    const permits = 5;
    const task = {
      mode: 'chaos',
      url: server.url,
      name,
      permits,
      waiters: 200,
      hold: 20,
      leaseTtl: 1000,
      waitTtl: 600,
      commandTimeout: 1000,
    };
    const children = Array.from({ length: 3 }, () => {
      const proc = spawn(process.execPath, [fixture, JSON.stringify(task)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines: string[] = [];
      let buffer = '';
      const started = new Promise<void>((resolve) => {
        proc.stdout.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          const parts = buffer.split('\n');
          buffer = parts.pop() as string;
          for (const line of parts) {
            lines.push(line);
            if (line.includes('"started"')) resolve();
          }
        });
      });
      return { proc, lines, started, exited: once(proc, 'exit') };
    });
    await Promise.all(children.map((c) => c.started));
    const firstEntry = (c: (typeof children)[number]) =>
      new Promise<void>((resolve) => {
        const check = () => (c.lines.some((l) => l.startsWith('E ')) ? resolve() : setTimeout(check, 5));
        check();
      });
    await Promise.all(children.map(firstEntry));
    await admin.call('CLIENT', 'PAUSE', '300', 'ALL'); // a stall shorter than commandTimeout: every call waits it out
    await admin.call('SCRIPT', 'FLUSH'); // queued behind the pause; every script reloads once
    await new Promise((resolve) => setTimeout(resolve, 150));
    // The process furthest from done (processes are served in ticket order, so one may be done already).
    const entries = children.map((c) => c.lines.filter((l) => l.startsWith('E ') && l.endsWith(' 1')).length);
    const victimIndex = entries.indexOf(Math.min(...entries));
    const victim = children[victimIndex] as (typeof children)[number];
    const dead = `${victimIndex}:`;
    victim.proc.kill('SIGKILL'); // its leases stay taken until they expire (leaseTtl)
    const killedAt = Date.now();
    await Promise.all(children.map((c) => c.exited));
    // Right away, whatever Redis still holds or queues belongs to the dead process alone
    // (a waiter's id starts with its process-side owner): no ghost lease, no stale place.
    const k = keys(name);
    const ids = [
      ...(await admin.zrange(k.holders, '0', '-1')),
      ...(await admin.zrange(k.queue, '0', '-1')),
      ...(await admin.hkeys(k.grants)),
    ];
    expect(new Set(ids.map((id) => id.slice(0, id.lastIndexOf('.')))).size).toBeLessThanOrEqual(1);

    // Offline: a holder is live from its entry to its exit, its loss, or its process's death.
    const open = new Map<string, number>();
    const edges: [number, number][] = [];
    for (const [i, c] of children.entries()) {
      for (const line of c.lines) {
        if (!line.startsWith('E ')) continue;
        const [, at, token, step] = line.split(' ');
        if (step === '1') open.set(`${i}:${token}`, Number(at));
        else if (open.delete(`${i}:${token}`)) edges.push([Number(at), -1]);
        if (step === '1') edges.push([Number(at), 1]);
      }
    }
    for (const key of open.keys()) if (key.startsWith(dead)) edges.push([killedAt, -1]);
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let live = 0;
    let most = 0;
    for (const [, step] of edges) {
      live += step;
      most = Math.max(most, live);
    }
    expect(most).toBeLessThanOrEqual(permits);
    for (const c of children.filter((c) => c !== victim)) {
      const summary = JSON.parse(c.lines.at(-1) as string) as { answered: number; failed: number };
      expect(summary.answered).toBe(task.waiters);
    }
    expect(victim.lines.at(-1)).not.toContain('answered'); // it was killed mid-run
    expect([...open.keys()].filter((key) => !key.startsWith(dead))).toEqual([]); // every survivor's holder exited
    // Once the dead process's leases and places have run out, one more acquire cleans up: nothing is left.
    await new Promise((resolve) => setTimeout(resolve, task.leaseTtl + 100));
    const sem = new RedisSemaphore({ client: connect(), name, permits });
    await (await sem.acquire()).release();
    expect(await sem.holders()).toBe(0);
    expect(await remote(name)).toEqual({ holders: 0, queued: 0, grants: 0 });
    await sem.close();
  }, 30_000);

  it('2,000 acquires aborted while their first request is held by the server answer at once and leave nothing in Redis', async () => {
    const name = randomUUID();
    const sem = new RedisSemaphore({ client: connect(), name, permits: 1 });
    await (await sem.acquire()).release(); // subscribed: the next asks go out in their own tick
    await admin.call('CLIENT', 'PAUSE', '500', 'ALL');
    const controllers = Array.from({ length: 2000 }, () => new AbortController());
    const calls = controllers.map((c) => sem.acquire({ signal: c.signal }));
    await new Promise((resolve) => setImmediate(resolve)); // the asks are on the wire
    for (const c of controllers) c.abort(new Error('gone'));
    const answers = await Promise.allSettled(calls);
    expect(answers.every((a) => a.status === 'rejected' && (a.reason as Error).message === 'gone')).toBe(true);
    expect(sem.stats()).toMatchObject({ waiting: 0, running: 0, aborted: 2000 });
    // Once the server resumes, the first ask is granted and the others queue; each leave follows its ask.
    expect(await sem.holders()).toBe(0);
    expect(await remote(name)).toEqual({ holders: 0, queued: 0, grants: 0 });
    await sem.close();
  }, 20_000);

  it('an acquire that meets commandTimeout (CLIENT PAUSE) leaves no ghost lease once the server runs it', async () => {
    const name = randomUUID();
    const sem = new RedisSemaphore({ client: connect(), name, permits: 2, commandTimeout: 100 });
    await (await sem.acquire()).release();
    await admin.call('CLIENT', 'PAUSE', '400', 'ALL');
    await expect(sem.acquire()).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(sem.tryAcquire()).rejects.toBeInstanceOf(BackendUnavailableError);
    // Both requests still run after the pause; the leaves sent after them give the permits back.
    expect(await remote(name)).toEqual({ holders: 0, queued: 0, grants: 0 });
    const lease = await sem.acquire();
    const second = await sem.acquire({ timeout: 1000 }); // both permits free again
    await lease.release();
    await second.release();
    await sem.close();
  }, 20_000);

  it.each([
    [
      'ioredis (its offline queue keeps commands until it reconnects)',
      async () => {
        const client = connect(server.url, { maxRetriesPerRequest: null });
        return { client: client as unknown as RedisClient, end: async () => {} };
      },
    ],
    [
      'node-redis',
      async () => {
        const client = createClient({ url: server.url, socket: { reconnectStrategy: () => 50 } });
        client.on('error', () => {});
        await client.connect();
        return { client: client as unknown as RedisClient, end: async () => client.destroy() };
      },
    ],
  ])(
    '%s: an acquire sent while Redis is down leaves no ghost lease after the restart',
    async (_name, open) => {
      const name = randomUUID();
      const { client, end } = await open();
      const sem = new RedisSemaphore({ client, name, permits: 1, commandTimeout: 200 });
      await (await sem.acquire()).release();
      await server.stop();
      await expect(sem.acquire()).rejects.toBeInstanceOf(BackendUnavailableError);
      await server.start();
      await (client as unknown as { ping(): Promise<unknown> }).ping(); // reconnected: the queued ask and its leave have run, in order
      expect(await remote(name)).toEqual({ holders: 0, queued: 0, grants: 0 });
      await sem.close();
      await end();
    },
    20_000,
  );

  it('fencing tokens keep growing across a restart that lost every key', async () => {
    const name = randomUUID();
    const sem = new RedisSemaphore({ client: connect(), name, permits: 1 });
    const before = await sem.acquire();
    await before.release();
    await server.stop();
    await server.start();
    const after = await sem.acquire({ timeout: 5000 });
    expect(after.token).toBeGreaterThan(before.token);
    await after.release();
    await sem.close();
  }, 20_000);

  it('a holder cut off from Redis loses its lease before another process can be granted the permit', async () => {
    const name = randomUUID();
    const proxy = await DropProxy.start(server.port);
    const cutOff = new RedisSemaphore({ client: connect(proxy.url), name, permits: 1, leaseTtl: 600 });
    const other = new RedisSemaphore({ client: connect(), name, permits: 1, leaseTtl: 600 });
    const held = await cutOff.acquire();
    const order: string[] = [];
    held.signal.addEventListener('abort', () => order.push('lost'));
    proxy.drop(true);
    const next = await other.acquire({ timeout: 5000 });
    order.push('granted elsewhere');
    expect(order).toEqual(['lost', 'granted elsewhere']);
    expect(held.signal.reason).toBeInstanceOf(LeaseLostError);
    expect(cutOff.stats().lost).toBe(1);
    await next.release();
    await other.close();
    proxy.drop(false);
    await cutOff.destroy();
    await proxy.close();
  }, 20_000);

  it('close() resolves once Redis has the last release, so the client can be closed right after', async () => {
    const name = randomUUID();
    const proxy = await DropProxy.start(server.port);
    const client = connect(proxy.url);
    const sem = new RedisSemaphore({ client, name, permits: 1, commandTimeout: 5000 });
    await sem.run(() => {
      proxy.hold(true); // the release run() sends next waits in the proxy
    });
    let closed = false;
    const closing = sem.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false); // the release has not reached Redis
    proxy.hold(false);
    await closing;
    client.disconnect(); // a common shutdown: close, then disconnect
    expect(await remote(name)).toEqual({ holders: 0, queued: 0, grants: 0 });
    await proxy.close();
  });

  it('a waiter whose place was dropped in Redis (its process silent past waitTtl) takes a new one at its next refresh', async () => {
    const name = randomUUID();
    const sem = new RedisSemaphore({ client: connect(), name, permits: 1, waitTtl: 300 });
    const held = await sem.acquire();
    const waiting = sem.acquire({ timeout: 5000 });
    await new Promise((resolve) => setImmediate(resolve)); // its ask is sent before the next command
    expect(await admin.zcard(keys(name).queue)).toBe(1);
    // What the hand-off does to the places of a process that stopped refreshing them.
    await admin.del(keys(name).queue);
    await held.release(); // nobody queued: the permit stays free
    const lease = await waiting; // found by the refresh (every waitTtl / 3), asked again, granted
    expect(lease.token).toBeGreaterThan(held.token);
    await lease.release();
    await sem.close();
  });

  it('one name, one configuration: an instance with other permits fails loudly instead of over-admitting', async () => {
    const name = randomUUID();
    const one = new RedisSemaphore({ client: connect(), name, permits: 1 });
    const five = new RedisSemaphore({ client: connect(), name, permits: 5 });
    const lease = await one.acquire();
    await expect(five.acquire()).rejects.toThrow(/has 1 permits in another process, this one was created with 5/);
    await expect(five.tryAcquire()).rejects.toThrow(/one name, one configuration/);
    expect(await one.holders()).toBe(1);
    await lease.release();
    await one.close();
    await five.close();
  });

  it('holders() does not count leases past their expiry', async () => {
    const name = randomUUID();
    const sem = new RedisSemaphore({ client: connect(), name, permits: 2 });
    const lease = await sem.acquire();
    const [seconds] = (await admin.time()) as [number, number];
    await admin.zadd(keys(name).holders, seconds * 1000 - 5000, 'crashed-long-ago');
    expect(await sem.holders()).toBe(1);
    await lease.release();
    await sem.close();
  });

  it('ioredis without its offline queue: the first acquire works and a release wakes the next waiter by pub/sub', async () => {
    const name = randomUUID();
    // Local timers that never fire: no command deadline, no presence refresh, no renewal.
    // A waiter can then be answered only by the hand-off message.
    const still: Clock = { now: () => performance.now(), setTimeout: () => undefined, clearTimeout: () => {} };
    const client = connect(server.url, { enableOfflineQueue: false });
    const sem = new RedisSemaphore({ client, name, permits: 1, clock: still });
    const first = await sem.acquire();
    const second = sem.acquire();
    await new Promise((resolve) => setImmediate(resolve)); // its ask is sent before the release
    await first.release();
    const lease = await second;
    expect(lease.token).toBeGreaterThan(first.token);
    await lease.release();
    await sem.close();
  });

  it('a failed first SUBSCRIBE closes the connection it opened', async () => {
    await admin.call('ACL', 'SETUSER', 'nosub', 'on', 'nopass', '~*', '&*', '+@all', '-subscribe');
    const client = connect(server.url, { username: 'nosub' });
    await client.ping();
    const sem = new RedisSemaphore({ client, name: randomUUID(), permits: 1 });
    await expect(sem.acquire()).rejects.toThrow(/NOPERM/);
    const connections = async () =>
      String(await admin.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.includes(' user=nosub ')).length;
    for (let i = 0; i < 50 && (await connections()) > 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await connections()).toBe(1);
    await sem.close();
  });

  it('names with braces keep a valid hash tag: every key of one semaphore in one slot, never an empty tag', async () => {
    const client = connect();
    for (const [i, name] of ['}starts', 'a}:b', '{x}', '%7D'].entries()) {
      const prefix = `braces-${i}:`;
      const sem = new RedisSemaphore({ client, name, permits: 1, prefix });
      const lease = await sem.acquire();
      const found = await admin.keys(`${prefix}*`);
      expect(found.length).toBeGreaterThanOrEqual(4);
      for (const key of found) expect(key).toMatch(/^braces-\d:\{[^{}]+\}:[a-z]+$/);
      const slots = new Set(found.map(slotOf));
      expect(slots.size).toBe(1);
      await lease.release();
      await sem.close();
    }
    // '}' and its escape '%7D' are two names, two semaphores.
    const brace = new RedisSemaphore({ client, name: '}', permits: 1 });
    const escaped = new RedisSemaphore({ client, name: '%7D', permits: 1 });
    const held = await brace.acquire();
    const other = await escaped.tryAcquire();
    expect(other).toBeDefined();
    await other?.release();
    await held.release();
    await brace.close();
    await escaped.close();
  });
});

/** What a Redis Cluster would hash: the text between the first `{` and the next `}`, when not empty, else the key. */
function slotOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}
