import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Service } from '../src/demo/Service.js';
import { records, scratch, sluice } from './helpers.js';

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The most events in any window of `window` ms. */
function busiest(times: readonly number[], window: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while ((sorted[j] as number) - (sorted[i] as number) >= window) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

describe('sluice run: rates', () => {
  let tmp: ReturnType<typeof scratch>;
  const service = new Service();
  let url: string;
  beforeAll(async () => {
    url = await service.start();
  });
  afterAll(() => service.close());
  beforeEach(() => {
    tmp = scratch();
    service.log.length = 0;
    service.logging = true;
  });
  afterEach(() => tmp.remove());

  it('--rate 40/s --rate 60/2s: never more than either in any window, measured where work starts', async () => {
    writeFileSync(tmp.path('ids.txt'), `${Array.from({ length: 130 }, (_, i) => i).join('\n')}\n`);
    const ran = await sluice(
      ['run', '-i', 'ids.txt', '--http', `GET ${url}/r/{}`, '-c', '64', '--rate', '40/s', '--rate', '60/2s'],
      { cwd: tmp.dir },
    );
    expect(ran.code).toBe(0);
    const starts = records<{ start: number }>(ran.stdout).map((r) => r.start);
    expect(starts).toHaveLength(130);
    // A start is the instant the rates admitted it (their one clock read, the
    // work begun in that same synchronous step), written rounded to 0.01 ms.
    expect(busiest(starts, 1000 - 0.02)).toBeLessThanOrEqual(40);
    expect(busiest(starts, 2000 - 0.02)).toBeLessThanOrEqual(60);
    // and the limit is used: 130 starts need the full two windows of 60 and more
    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(4000);
  });

  it('--per-key {host} --key-rate: each host on its own rate', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify({ host: i % 2 ? 'a' : 'b', id: i }));
    writeFileSync(tmp.path('in.ndjson'), `${lines.join('\n')}\n`);
    const ran = await sluice(
      [
        'run',
        '-i',
        'in.ndjson',
        '--http',
        `GET ${url}/{host}/{id}`,
        '--per-key',
        '{host}',
        '--key-rate',
        '20/s',
        '--key-concurrency',
        '2',
      ],
      { cwd: tmp.dir },
    );
    expect(ran.code).toBe(0);
    const out = records<{ start: number; key: string; line: number }>(ran.stdout);
    for (const host of ['a', 'b']) {
      const starts = out.filter((r) => (r.line % 2 === 0 ? 'a' : 'b') === host).map((r) => r.start);
      expect(starts).toHaveLength(30);
      expect(busiest(starts, 1000 - 0.02)).toBeLessThanOrEqual(20);
    }
    // Both hosts ran side by side: together more than one host's rate.
    expect(
      busiest(
        out.map((r) => r.start),
        1000 - 1,
      ),
    ).toBeGreaterThan(20);
  });
});

describe('sluice run --redis: two runners share one rate and one pause', () => {
  let tmp: ReturnType<typeof scratch>;
  // Every 150th request is refused with 429 Retry-After: 1.
  const service = new Service({ throttle: { every: 150, retryAfter: 1 } });
  let url: string;
  beforeAll(async () => {
    url = await service.start();
    service.logging = true;
  });
  afterAll(() => service.close());
  beforeEach(() => {
    tmp = scratch();
  });
  afterEach(() => tmp.remove());

  it('never exceed the global rate together; a Retry-After seen by one pauses both', { timeout: 60_000 }, async () => {
    const job = `test-${randomUUID()}`;
    writeFileSync(tmp.path('a.txt'), `${Array.from({ length: 200 }, (_, i) => `a${i}`).join('\n')}\n`);
    writeFileSync(tmp.path('b.txt'), `${Array.from({ length: 200 }, (_, i) => `b${i}`).join('\n')}\n`);
    const runner = (input: string, journal: string) =>
      sluice(
        [
          'run',
          '-i',
          input,
          '--journal',
          journal,
          '--failures',
          `${journal}.failures`,
          '--http',
          `GET ${url}/r/{}`,
          '-c',
          '8',
          '--rate',
          '100/s',
          '--retries',
          '5',
          '--redis',
          REDIS,
          '--job',
          job,
        ],
        { cwd: tmp.dir },
      );
    // Every admission the shared rate grants, on Redis's clock: the rate's
    // sliding log adds one member per grant, scored with the decision's instant
    // (MONITOR shows the commands a script runs, with their arguments).
    const monitor = await new Redis(REDIS).monitor();
    const grants: number[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toUpperCase() === 'ZADD' && args[1]?.includes(`{${job}:rate}`)) grants.push(Number(args[2]));
    });
    let a: Awaited<ReturnType<typeof runner>>;
    let b: typeof a;
    try {
      [a, b] = await Promise.all([runner('a.txt', 'a.journal'), runner('b.txt', 'b.journal')]);
    } finally {
      monitor.disconnect();
    }
    expect([a.code, b.code]).toEqual([0, 0]);
    const log = service.log;
    const from = (prefix: string) => log.filter((s) => s.id.startsWith(prefix)).length;
    expect(from('a')).toBeGreaterThanOrEqual(200);
    expect(from('b')).toBeGreaterThanOrEqual(200);
    // Each request the service saw was granted first (a grant may go unused when
    // a pause arrived with it), and no window of the grants holds more than the
    // rate. A request reaches the service some time after its grant, so arrival
    // times would only bound it with an allowance for that delay; the decisions
    // bound it exactly (stored with 1 us precision).
    expect(grants.length).toBeGreaterThanOrEqual(log.length);
    expect(busiest(grants, 1000 - 0.002)).toBeLessThanOrEqual(100);
    // and the two use it: in their busiest second, (nearly) all of it
    expect(busiest(grants, 1000 - 0.002)).toBeGreaterThanOrEqual(90);
    const throttled = log.filter((s) => s.status === 429);
    expect(throttled.length).toBeGreaterThanOrEqual(2);
    for (const t of throttled) {
      // Requests already on their way may land just after the 429; none is sent during the pause.
      const during = log.filter((s) => s.at > t.at + 100 && s.at < t.at + 990);
      expect(during.map((s) => s.id)).toEqual([]);
    }
    // The 429s went to one runner each time; both paused (the summary counts pauses).
    const pauses = (stderr: string) => Number(/(\d+) pauses/.exec(stderr)?.[1] ?? 0);
    expect(pauses(a.stderr)).toBeGreaterThan(0);
    expect(pauses(b.stderr)).toBeGreaterThan(0);
    // A pause sends the waits for the shared rate back to wait for the pause: a grant
    // goes unused only when its decision was on its way as the pause began (at most
    // one per slot, 8 per runner, per pause it saw).
    expect(grants.length - log.length).toBeLessThanOrEqual(8 * (pauses(a.stderr) + pauses(b.stderr)));
  });
});
