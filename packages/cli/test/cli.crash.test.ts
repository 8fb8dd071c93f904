import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Service } from '../src/demo/Service.js';
import { records, scratch, startSluice } from './helpers.js';

// The acceptance run: 100,000 items against a service that fails 5% of
// requests (500) and answers a 429 with Retry-After now and then; the runner
// is SIGKILLed five times at random points and resumed each time. Counted on
// the server: every item served, and duplicates at most the in-flight window
// per kill (an item may run twice after a crash, never zero times).
describe('sluice run: SIGKILL and --resume', () => {
  const ITEMS = 100_000;
  const CONCURRENCY = 32;
  const KILLS = 5;
  const service = new Service({ failRate: 0.05, throttle: { every: 30_000, retryAfter: 1 } });
  const tmp = scratch();
  let url: string;
  beforeAll(async () => {
    url = await service.start();
    writeFileSync(tmp.path('ids.txt'), `${Array.from({ length: ITEMS }, (_, i) => i + 1).join('\n')}\n`);
  });
  afterAll(async () => {
    await service.close();
    tmp.remove();
  });

  const served = () => service.ok.size;

  it('loses no item and repeats at most the in-flight window per kill', { timeout: 240_000 }, async () => {
    const args = (resume: boolean) => [
      'run',
      '-i',
      'ids.txt',
      '-o',
      'out.ndjson',
      '--http',
      `GET ${url}/items/{}`,
      '-c',
      String(CONCURRENCY),
      '--retries',
      '30',
      '--backoff',
      '1ms',
      '--max-backoff',
      '20ms',
      '--progress',
      'none',
      ...(resume ? ['--resume'] : []),
    ];
    // Kill points: a random count of served items within each sixth of the run.
    const points = Array.from({ length: KILLS }, (_, k) =>
      Math.floor(((k + 1) / (KILLS + 1)) * ITEMS + (Math.random() - 0.5) * 8000),
    );
    let exits: (number | null)[] = [];
    for (let run = 0; run <= KILLS; run++) {
      const { child, done } = startSluice(args(run > 0), { cwd: tmp.dir });
      if (run < KILLS) {
        const point = points[run] as number;
        const killed = new Promise<void>((resolve) => {
          const poll = setInterval(() => {
            if (served() >= point) {
              clearInterval(poll);
              child.kill('SIGKILL');
              resolve();
            }
          }, 5);
          void done.then(() => {
            clearInterval(poll);
            resolve();
          });
        });
        await killed;
      }
      const ended = await done;
      exits = [...exits, ended.signal === 'SIGKILL' ? -9 : ended.code];
      if (run === KILLS) expect(ended.stderr).toMatch(/0 failed, 0 invalid/);
    }
    expect(exits).toEqual([-9, -9, -9, -9, -9, 0]);
    const missing = Array.from({ length: ITEMS }, (_, i) => String(i + 1)).filter((id) => !service.ok.has(id));
    expect(missing).toEqual([]);
    let duplicates = 0;
    for (const count of service.ok.values()) duplicates += count - 1;
    expect(duplicates).toBeLessThanOrEqual(KILLS * CONCURRENCY);
    // Every item has an ok result line across the runs' output.
    const ok = new Set(
      records<{ line: number; status: string }>(readFileSync(tmp.path('out.ndjson'), 'utf8'))
        .filter((r) => r.status === 'ok')
        .map((r) => r.line),
    );
    expect(ok.size).toBe(ITEMS);
    expect(service.statuses.get(429)).toBeGreaterThan(0);
    expect(service.statuses.get(500)).toBeGreaterThan(0);
  });
});
