import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Executable documentation: every example runs in its own process, against the
// built package (examples import 'sluice' by name), and prints what it claims.
const run = (file: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', `examples/${file}`], { encoding: 'utf8', timeout: 60_000 });

describe('examples', () => {
  it.each([
    [
      'limit.ts',
      [/fetched 1000 users; first user-1, last user-1000/, /one call: user-42/, /with maxWaiting 3: 5 ran, 5 shed/],
    ],
    [
      'semaphore.ts',
      [
        /big running with 8 GiB/,
        /SLUICE_TIMEOUT: Semaphore acquire timed out after 10 ms/,
        /aborted: client went away/,
        /capacity 20, available 20/,
        /closed/,
      ],
    ],
    ['mutex.ts', [/outcomes \[true,false,true\], balance 10/]],
    ['task-queue.ts', [/urgent work ran ahead of the backlog/, /100 rows in/, /"completed":101/]],
    ['compat.ts', [/p-limit drop-in: \[2,4,6,8,10\]/, /p-queue drop-in completed: a/]],
    [
      'rate-limit.ts',
      [
        /client-a: 200 200 200 200 200 429 429/,
        /429 headers: \{"RateLimit-Limit":"5","RateLimit-Remaining":"0","RateLimit-Reset":"1","Retry-After":"1"\}/,
        /client-b is limited separately: 200/,
        /a\.example: 15 calls/,
        /SLUICE_TIMEOUT: Rate limit admission in 1000 ms exceeds the timeout of 200 ms/,
      ],
    ],
    [
      'adaptive.ts',
      [
        /limit at 1 s: \d+, 5 s: \d+, 20 s: \d+, 30 s: \d+ \(hidden capacity 40\)/,
        /settled at 4[0-9]\.\d, p99 latency 1\.\d+x unloaded, 9\d% of capacity used, 0% failed/,
        /Little's law: 12 in flight; with 15 connections 31\.9% of requests wait, 4\.26 ms on average/,
      ],
    ],
    [
      'csv-to-postgres.ts',
      [
        /300000 rows imported in [\d.]+ s, 300000 distinct ids, checksum ok/,
        /at most (1\d|20|\d) inserts in flight; peak RSS \d+ MiB for a 300,000-row file/,
      ],
    ],
    [
      'password-hashing.ts',
      [
        /hashing on\s+all done ms\s+max loop lag ms\s+slowest health ms/,
        /event loop\s+\d+\s+\d+\s+\d+/,
        /WorkerPool\s+\d+\s+\d+\s+\d+/,
      ],
    ],
    [
      'pg-pool.ts',
      [
        /100 queries, results 0 \.\. 198/,
        /the killed connection's own query failed: terminating connection due to administrator command/,
        /an SQL error keeps its connection: relation "no_such_table" does not exist/,
        /after a killed connection: ok=1, opened \d+, destroyed [12], at most 10/,
        /closed: 0 connections left/,
      ],
    ],
    [
      'pool-exhaustion.ts',
      [/shared pool, timeout \+ naive retries/, /answered \(fresh or cached\): \d+\/150 without, 150\/150 with sluice/],
    ],
    [
      'redis-webhooks.ts',
      [
        /6120 webhooks to 2004 destinations delivered by 3 processes in [\d.]+ s, 0 failed/,
        /most in flight at once, across processes: ([1-9]|[1-4]\d|50) \(limit 50\)/,
        /most begun per destination in any second: busy (10|[1-9]), (10|[1-9]), (10|[1-9]), (10|[1-9]); others [1-3] \(at most 10\)/,
        /fencing tokens: 6120 distinct, one per delivery/,
      ],
    ],
  ])('%s runs and prints what it shows', (file, patterns) => {
    const result = run(file);
    expect(result.stderr.replace(/npm warn.*\n/g, '')).toBe('');
    expect(result.status).toBe(0);
    for (const pattern of patterns) expect(result.stdout).toMatch(pattern);
  });
});
