import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The built package, loaded by name through its `exports` map (self-reference),
// the way a user's ESM and CommonJS code would load it. `npm test` builds first.
const node = (args: string[]) => spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 30_000 });

const expectedExports = [
  'ADMISSION_CHANNEL',
  'AdaptiveLimiter',
  'AdaptivePermit',
  'BackendUnavailableError',
  'Batcher',
  'BulkheadPolicy',
  'CircuitBreakerPolicy',
  'CircuitOpenError',
  'ClearedError',
  'ClientThrottle',
  'ClosedError',
  'EventLoopLag',
  'FallbackPolicy',
  'GroupCancelledError',
  'HedgeLostError',
  'HedgePolicy',
  'IterationStoppedError',
  'KeyedRateLimiter',
  'LeaseLostError',
  'Mutex',
  'OverloadedError',
  'Permit',
  'Pool',
  'PoolLease',
  'QueueFullError',
  'RateLimiter',
  'RetryBudget',
  'RetryPolicy',
  'Semaphore',
  'Shutdown',
  'SluiceError',
  'TaskGroup',
  'TaskQueue',
  'TimeoutError',
  'TimeoutPolicy',
  'WorkerCrashedError',
  'WorkerPool',
  'aimd',
  'asPolicy',
  'batch',
  'bulkhead',
  'circuitBreaker',
  'consecutiveFailures',
  'constantBackoff',
  'countWindow',
  'dedupe',
  'erlangC',
  'exponentialBackoff',
  'fallback',
  'filter',
  'forEach',
  'gradient',
  'gradient2',
  'hedge',
  'isAdmission',
  'isTimeout',
  'limit',
  'littlesLaw',
  'map',
  'merge',
  'pipeline',
  'rateLimitHeaders',
  'readRetryAfter',
  'retry',
  'systemClock',
  'throttle',
  'timeWindow',
  'timeout',
  'transform',
  'vegas',
];

describe('package', () => {
  it('ESM: import from "sluice" and the compat subpaths', () => {
    const script = `
      const core = await import('sluice');
      const pLimit = (await import('sluice/compat/p-limit')).default;
      const PQueue = (await import('sluice/compat/p-queue')).default;
      const l = pLimit(1); const q = new PQueue({ concurrency: 1 });
      const out = [await l(() => 1), await q.add(() => 2), await core.limit(1)(() => 3)];
      console.log(JSON.stringify({ keys: Object.keys(core).sort(), out }));`;
    const result = node(['--input-type=module', '-e', script]);
    expect(result.stderr).toBe('');
    const parsed = JSON.parse(result.stdout) as { keys: string[]; out: number[] };
    expect(parsed.keys).toEqual(expectedExports);
    expect(parsed.out).toEqual([1, 2, 3]);
  });

  it('CommonJS: require("sluice") and the compat subpaths', () => {
    const script = `
      const core = require('sluice');
      const pLimit = require('sluice/compat/p-limit'); // callable, as p-limit's own CommonJS build
      const { TimeoutError } = require('sluice/compat/p-queue');
      console.log(JSON.stringify({
        keys: Object.keys(core).sort(), pLimit: typeof pLimit, same: TimeoutError === core.TimeoutError,
        shape: [pLimit.default === pLimit, typeof pLimit.limitFunction, pLimit(3).concurrency],
      }));`;
    const result = node(['-e', script]);
    expect(result.stderr).toBe('');
    const parsed = JSON.parse(result.stdout) as { keys: string[]; pLimit: string; same: boolean; shape: unknown[] };
    expect(parsed.keys).toEqual(expectedExports);
    expect(parsed.pLimit).toBe('function');
    expect(parsed.shape).toEqual([true, 'function', 3]);
    expect(parsed.same).toBe(true);
  });

  it('type-checks for CommonJS consumers (import = require) and under the classic moduleResolution node', () => {
    const dir = new URL('../node_modules/.cache/sluice-consumers/', import.meta.url).pathname;
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      `${dir}cjs.cts`,
      [
        "import pLimit = require('sluice/compat/p-limit');",
        'const limit: pLimit.LimitFunction = pLimit(2);',
        'const same: typeof pLimit = pLimit.default;',
        'const wrapped = pLimit.limitFunction(async (x: number) => x * 2, 1);',
        'const options: pLimit.Options = { concurrency: 1 };',
        'void [limit, same, wrapped, options];',
      ].join('\n'),
    );
    writeFileSync(
      `${dir}classic.ts`,
      [
        "import pLimit from 'sluice/compat/p-limit';",
        "import PQueue from 'sluice/compat/p-queue';",
        "import { RedisSemaphore } from 'sluice/redis';",
        "import { limit } from 'sluice';",
        'void [pLimit(1), new PQueue({ concurrency: 1 }), RedisSemaphore, limit(1)];',
      ].join('\n'),
    );
    const tsc = new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname;
    const check = (args: string[]) =>
      spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', ...args], {
        encoding: 'utf8',
        cwd: dir,
      });
    const cjs = check(['--module', 'nodenext', '--moduleResolution', 'nodenext', 'cjs.cts']);
    expect(cjs.stdout).toBe('');
    const classic = check(['--module', 'commonjs', '--moduleResolution', 'node', '--esModuleInterop', 'classic.ts']);
    expect(classic.stdout).toBe('');
  });

  it('an error from the ESM build is instanceof the CJS build’s class (two copies)', () => {
    const script = `
      const cjs = require('sluice');
      import('sluice').then((esm) => {
        const e = new esm.TimeoutError('x');
        console.log(JSON.stringify([e instanceof cjs.TimeoutError, e instanceof cjs.SluiceError, e instanceof cjs.ClosedError]));
      });`;
    const result = node(['-e', script]);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([true, true, false]);
  });

  it('an idle limiter keeps no process alive', () => {
    // After real work (including rate-limit windows and acquire timeouts), the
    // process must exit on its own: no timer or handle left behind. The spawn
    // timeout is only a safety net; the assertion is the clean exit.
    const script = `
      const { limit, Semaphore, TaskQueue, Mutex } = await import('sluice');
      const l = limit(2); await l.map([1, 2, 3], async (x) => x);
      const s = new Semaphore(1); const p = await s.acquire();
      await s.acquire({ timeout: 5 }).catch(() => {}); p.release();
      await s.acquire({ timeout: 60_000 }).then((permit) => permit.release());
      const q = new TaskQueue({ concurrency: 1, limits: { limit: 1, interval: 20 }, runTimeout: 60_000 });
      await q.addAll([() => 1, () => 2]);
      const m = new Mutex(); await m.run(() => 1);
      const { RateLimiter } = await import('sluice');
      const r = new RateLimiter({ limits: { limit: 1, interval: 20 } });
      await r.acquire({ key: 'a' }); await r.acquire({ key: 'a' }); r.consume({ key: 'b' });
      console.log('done');`;
    const result = node(['--input-type=module', '-e', script]);
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe('done');
  });

  it('sluice/redis loads by name (ESM and CommonJS) and leaves no handle behind once closed', () => {
    const names = [
      'BackendUnavailableError',
      'KeyedRedisRateLimiter',
      'LeaseLostError',
      'RedisLease',
      'RedisRateLimiter',
      'RedisSemaphore',
      'toRedisAdapter',
    ];
    const cjs = node(['-e', "console.log(JSON.stringify(Object.keys(require('sluice/redis')).sort()))"]);
    expect(cjs.stderr).toBe('');
    expect(JSON.parse(cjs.stdout)).toEqual(names);
    const script = `
      const { RedisRateLimiter, RedisSemaphore } = await import('sluice/redis');
      const { Redis } = await import('ioredis');
      const client = new Redis(${JSON.stringify(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')});
      const name = 'package-test-' + process.pid;
      const limiter = new RedisRateLimiter({ client, name, limits: { limit: 5, interval: 1000 } });
      await limiter.acquire(); await limiter.consume({ key: 'x' });
      const sem = new RedisSemaphore({ client, name, permits: 1 });
      await sem.run(async () => {});
      await sem.close(); await limiter.close();
      await client.quit();
      console.log(JSON.stringify(Object.keys(await import('sluice/redis')).sort()));`;
    const esm = node(['--input-type=module', '-e', script]);
    expect(esm.stderr).toBe('');
    expect(esm.status).toBe(0);
    expect(JSON.parse(esm.stdout)).toEqual(names);
  });

  it('sluice/otel loads by name (ESM and CommonJS) without @opentelemetry/api at run time (types only)', () => {
    const esm = node([
      '--input-type=module',
      '-e',
      "const m = await import('sluice/otel'); console.log(typeof m.sluiceMetrics)",
    ]);
    expect(esm.stdout.trim(), esm.stderr).toBe('function');
    const cjs = node(['-e', "console.log(typeof require('sluice/otel').sluiceMetrics)"]);
    expect(cjs.stdout.trim(), cjs.stderr).toBe('function');
    const built = readFileSync(new URL('../dist/otel/index.js', import.meta.url), 'utf8');
    expect(built).not.toMatch(/from ['"]@opentelemetry/);
  });

  it('the API reference builds with TypeDoc with no warning: every type a signature names is exported, every link resolves', () => {
    const typedoc = spawnSync(
      process.execPath,
      [new URL('../node_modules/typedoc/bin/typedoc', import.meta.url).pathname, '--emit', 'none'],
      { cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8', timeout: 120_000 },
    );
    expect(typedoc.status, typedoc.stdout + typedoc.stderr).toBe(0);
    expect(typedoc.stdout + typedoc.stderr).not.toMatch(/warning/i);
  }, 120_000);

  it('internals are not reachable through the exports map', () => {
    const result = node(['-e', "require('sluice/dist/core/Deque.js')"]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('declares types first in every export condition and no runtime dependencies', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      exports: Record<string, Record<string, Record<string, string>> | string>;
      dependencies?: Record<string, string>;
      engines: { node: string };
    };
    for (const [path, entry] of Object.entries(pkg.exports)) {
      if (typeof entry === 'string') continue;
      for (const condition of Object.values(entry)) expect(Object.keys(condition)[0], path).toBe('types');
    }
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.engines.node).toBe('>=20');
  });

  it('the packed tarball passes publint (strict) and arethetypeswrong, and ships what a user needs', () => {
    // Packed without scripts: `prepare` would rebuild dist under the other test files.
    const root = new URL('..', import.meta.url).pathname;
    const into = mkdtempSync(join(tmpdir(), 'sluice-pack-'));
    try {
      const pack = spawnSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', into], {
        cwd: root,
        encoding: 'utf8',
      });
      expect(pack.status, pack.stderr).toBe(0);
      const [packed] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
      const files = packed.files.map((f) => f.path);
      for (const needed of [
        'README.md',
        'CHANGELOG.md',
        'LICENSE',
        'package.json',
        'dist/index.js',
        'dist/index.cjs',
      ]) {
        expect(files).toContain(needed);
      }
      expect(files.filter((f) => f.endsWith('.map') || f.startsWith('src/'))).toEqual([]);
      const tarball = join(into, packed.filename);
      const tool = (path: string, args: string[]) =>
        spawnSync(process.execPath, [new URL(`../node_modules/${path}`, import.meta.url).pathname, ...args], {
          cwd: into,
          encoding: 'utf8',
          timeout: 120_000,
        });
      const publint = tool('publint/src/cli.js', ['run', tarball, '--strict']);
      expect(publint.status, publint.stdout + publint.stderr).toBe(0);
      expect(publint.stdout).toMatch(/All good!/);
      const attw = tool('@arethetypeswrong/cli/dist/index.js', [tarball, '--format', 'ascii']);
      expect(attw.status, attw.stdout + attw.stderr).toBe(0);
      expect(attw.stdout).toMatch(/No problems found/);
    } finally {
      rmSync(into, { recursive: true, force: true });
    }
  }, 120_000);
});
