import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Service } from '../src/demo/Service.js';
import { records, scratch, sluice } from './helpers.js';

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('sluice run: breaker, halt, shared concurrency', () => {
  let tmp: ReturnType<typeof scratch>;
  beforeEach(() => {
    tmp = scratch();
  });
  afterEach(() => tmp.remove());

  it('--breaker 2: after two failures in a row nothing starts until the breaker has been open --breaker-open', async () => {
    const service = new Service({ failRate: 1 });
    const url = await service.start();
    try {
      const ran = await sluice(
        [
          'run',
          '--keep-order',
          '--no-journal',
          '-c',
          '1',
          '--breaker',
          '2',
          '--breaker-open',
          '300ms',
          '--http',
          `GET ${url}/x/{}`,
        ],
        { cwd: tmp.dir, stdin: '1\n2\n3\n4\n' },
      );
      expect(ran.code).toBe(1);
      const starts = records<{ start: number; status: string }>(ran.stdout)
        .map((r) => r.start)
        .sort((a, b) => a - b);
      expect(starts).toHaveLength(4);
      // The third and fourth starts are probes, each let through once the open period is over (a busy machine only adds to the gap).
      expect((starts[2] as number) - (starts[1] as number)).toBeGreaterThanOrEqual(300);
      expect((starts[3] as number) - (starts[2] as number)).toBeGreaterThanOrEqual(300);
    } finally {
      await service.close();
    }
  });

  it('--halt soon,fail=1: starts nothing more, lets the running item finish, exit 3', async () => {
    writeFileSync(tmp.path('in.txt'), 'wait\nfail\nwait\nwait\nwait\n');
    const ran = await sluice(
      [
        'run',
        '-i',
        'in.txt',
        '-c',
        '2',
        '--halt',
        'soon,fail=1',
        '--',
        'sh',
        '-c',
        'if [ $0 = fail ]; then exit 1; fi; sleep 0.3',
      ],
      { cwd: tmp.dir },
    );
    expect(ran.code).toBe(3);
    expect(
      records<{ line: number; status: string }>(ran.stdout)
        .map((r) => [r.line, r.status])
        .sort(),
    ).toEqual([
      [1, 'ok'],
      [2, 'failed'],
    ]);
    expect(ran.stderr).toMatch(/halted: 1 failed \(--halt soon,fail=1\)/);
  });

  it('--redis: two runners with -c 3 share three slots: the service never sees more than 3 at once', {
    timeout: 60_000,
  }, async () => {
    const service = new Service({ latency: 20 });
    const url = await service.start();
    const job = `test-${randomUUID()}`;
    try {
      writeFileSync(tmp.path('a.txt'), `${Array.from({ length: 60 }, (_, i) => `a${i}`).join('\n')}\n`);
      writeFileSync(tmp.path('b.txt'), `${Array.from({ length: 60 }, (_, i) => `b${i}`).join('\n')}\n`);
      const runner = (input: string) =>
        sluice(
          ['run', '-i', input, '--no-journal', '-c', '3', '--redis', REDIS, '--job', job, '--http', `GET ${url}/x/{}`],
          {
            cwd: tmp.dir,
          },
        );
      const [a, b] = await Promise.all([runner('a.txt'), runner('b.txt')]);
      expect([a.code, b.code]).toEqual([0, 0]);
      expect(service.ok.size).toBe(120);
      expect(service.peak).toBeLessThanOrEqual(3);
    } finally {
      await service.close();
    }
  });
});
