import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Service } from '../src/demo/Service.js';
import { records, scratch, sluice } from './helpers.js';

// --concurrency auto against a service with a hidden capacity K: K workers of
// 100 ms each, a queue of K in front (latency grows above K), 503 beyond it.
// The limit (sampled once a second by --progress json) must settle within
// [0.7 K, 1.1 K]: measured as its median over the second half of the run.
describe('sluice run --concurrency auto', () => {
  let tmp: ReturnType<typeof scratch>;
  beforeEach(() => {
    tmp = scratch();
  });
  afterEach(() => tmp.remove());

  for (const K of [8, 64]) {
    it(`settles within [0.7K, 1.1K] for K = ${K}`, { timeout: 90_000 }, async () => {
      const service = new Service({ capacity: K, latency: 100, queue: K });
      const url = await service.start();
      try {
        writeFileSync(tmp.path('ids.txt'), `${Array.from({ length: K * 130 }, (_, i) => i).join('\n')}\n`);
        const ran = await sluice(
          [
            'run',
            '-i',
            'ids.txt',
            '--no-journal',
            '-o',
            'out.ndjson',
            '--http',
            `GET ${url}/x/{}`,
            '-c',
            'auto',
            '--retries',
            '5',
            '--progress',
            'json',
          ],
          { cwd: tmp.dir },
        );
        expect(ran.code).toBe(0);
        const samples = records<{ limit: number }>(
          ran.stderr
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .join('\n'),
        );
        expect(samples.length).toBeGreaterThanOrEqual(6);
        const settled = samples.slice(Math.floor(samples.length / 2));
        // The median: one round in eight probes at 1.25 x and the next drains at 0.75 x.
        const sorted = settled.map((s) => s.limit).sort((a, b) => a - b);
        const median = sorted[Math.floor(sorted.length / 2)] as number;
        const seen = `limits sampled: ${samples.map((s) => s.limit).join(' ')}`;
        expect(median, seen).toBeGreaterThanOrEqual(0.7 * K);
        expect(median, seen).toBeLessThanOrEqual(1.1 * K);
      } finally {
        await service.close();
      }
    });
  }
});
