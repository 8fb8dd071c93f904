import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClosedError, QueueFullError, TimeoutError, WorkerCrashedError, WorkerPool } from '../src/index.js';
import { abortListeners, track } from './helpers.js';

// Worker threads run real code on real threads: these tests wait for real
// answers, and assert outcomes and order, never durations.
const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const cjsTasks = new URL('./fixtures/tasks.cjs', import.meta.url);

const pools: WorkerPool[] = [];
const pool = (options: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}) => {
  const p = new WorkerPool({ filename: tasks, maxThreads: 2, ...options });
  pools.push(p);
  return p;
};
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
});

describe('WorkerPool', () => {
  it('runs named exports of ESM and CommonJS modules; workerData reaches the module', async () => {
    const p = pool({ workerData: { region: 'eu' } });
    expect(await p.run({ x: 1 })).toEqual({ x: 1 });
    expect(await p.run({ a: 2, b: 3 }, { name: 'add' })).toBe(5);
    expect(await p.run(undefined, { name: 'data' })).toEqual({ region: 'eu' });
    const c = pool({ filename: cjsTasks });
    expect(await c.run(7)).toEqual({ cjs: 7 });
    expect(await c.run(21, { name: 'double' })).toBe(42);
    await expect(p.run(1, { name: 'nope' })).rejects.toThrow(/exports no function "nope"/);
    await expect(p.run('boom', { name: 'fail' })).rejects.toThrow('boom');
  });

  it('transfers ArrayBuffers instead of copying them', async () => {
    const p = pool();
    const buffer = new Uint8Array([1, 2, 3, 4]).buffer;
    expect(await p.run(buffer, { name: 'sum', transferList: [buffer] })).toBe(10);
    expect(buffer.byteLength).toBe(0); // moved
  });

  it('dispatches strictly FIFO under constant load, priorities first', async () => {
    const p = pool({ maxThreads: 1 });
    const order: number[] = [];
    const blocker = p.run(50, { name: 'spin' });
    const runs = Array.from({ length: 20 }, (_, i) => p.run(i).then((n) => order.push(n as number)));
    const urgent = p.run(-1, { priority: 1 }).then((n) => order.push(n as number));
    await Promise.all([blocker, urgent, ...runs]);
    expect(order).toEqual([-1, ...Array.from({ length: 20 }, (_, i) => i)]);
  });

  it('aborting a queued task removes it; aborting a running one replaces its thread', async () => {
    const p = pool({ maxThreads: 1 });
    const running = new AbortController();
    const queued = new AbortController();
    const busy = p.run(undefined, { name: 'forever', signal: running.signal });
    const waiting = p.run(1, { signal: queued.signal });
    const after = p.run('still works');
    queued.abort(new Error('not needed'));
    await expect(waiting).rejects.toThrow('not needed');
    expect(p.stats()).toMatchObject({ waiting: 1, running: 1 });
    running.abort(new Error('stop spinning'));
    await expect(busy).rejects.toThrow('stop spinning');
    expect(await after).toBe('still works');
    expect(abortListeners(running.signal) + abortListeners(queued.signal)).toBe(0);
    expect(p.stats()).toMatchObject({ waiting: 0, running: 0, aborted: 1, crashed: 0 });
  });

  it('a task past its runTimeout is stopped (its thread replaced); one past its wait timeout never runs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const p = pool({ maxThreads: 1 });
    const call = track(p.run(undefined, { name: 'forever', runTimeout: 1000 }));
    const waiting = track(p.run('late', { timeout: 200 }));
    await vi.advanceTimersByTimeAsync(200);
    expect(waiting.error).toBeInstanceOf(TimeoutError);
    expect((waiting.error as Error).message).toBe(
      'Worker pool wait timed out after 200 ms (1 running on 1 threads, 0 waiting)',
    );
    await vi.advanceTimersByTimeAsync(800);
    expect(call.error).toBeInstanceOf(TimeoutError);
    expect(p.stats()).toMatchObject({ timedOut: 1, runTimedOut: 1, waiting: 0 });
    vi.useRealTimers();
    expect(await p.run('next')).toBe('next');
  });

  it('a crashed thread rejects its task with SLUICE_WORKER_CRASHED and is replaced', async () => {
    const p = pool({ maxThreads: 1 });
    const crash = await p.run(undefined, { name: 'crash' }).catch((e: unknown) => e);
    expect(crash).toBeInstanceOf(WorkerCrashedError);
    expect((crash as Error).message).toMatch(/uncaught in the worker/);
    const exit = await p.run(3, { name: 'exit' }).catch((e: unknown) => e);
    expect((exit as Error).message).toMatch(/exited with code 3/);
    expect(await p.run('alive')).toBe('alive');
    expect(p.stats().crashed).toBe(2);
  });

  it('recycles threads after maxTasksPerWorker tasks and above maxHeapBytes', async () => {
    const p = pool({ maxThreads: 1, maxTasksPerWorker: 3 });
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push(await p.run(undefined, { name: 'whoami' }));
    expect(new Set(ids).size).toBe(3); // 3 + 3 + 1
    expect(p.stats().recycled).toBe(2);
    const heavy = pool({ maxThreads: 1, maxHeapBytes: 64 * 1024 * 1024 });
    const before = await heavy.run(undefined, { name: 'whoami' });
    await heavy.run(80, { name: 'grow' }); // ~80 MB kept alive in the thread
    expect(await heavy.run(undefined, { name: 'whoami' })).not.toBe(before);
  });

  it('maxWaiting refuses with live counts; needsDrain counts queued plus running; drain fires once', async () => {
    const p = pool({ maxThreads: 1, maxWaiting: 3, highWaterMark: 2 });
    const events: string[] = [];
    p.on('drain', () => events.push('drain'));
    const all = [p.run(30, { name: 'spin' }), p.run(0)];
    expect(p.needsDrain).toBe(false); // 1 running + 1 queued < capacity 1 + highWaterMark 2
    all.push(p.run(1));
    expect(p.needsDrain).toBe(true); // 1 running + 2 queued: at the mark
    all.push(p.run(2)); // advisory: still accepted up to maxWaiting
    await expect(p.run(3)).rejects.toThrow(
      new QueueFullError('Worker pool queue is full (3/3 waiting, 1 running on 1 threads)'),
    );
    await p.onDrain();
    expect(p.needsDrain).toBe(false);
    await Promise.all(all);
    expect(events).toEqual(['drain']);
  });

  it('close finishes queued and running tasks, then lets threads exit; destroy rejects them', async () => {
    const p = pool({ maxThreads: 1 });
    const results = [p.run(20, { name: 'spin' }), p.run('a'), p.run('b')];
    await p.close();
    expect(await Promise.all(results)).toEqual([20, 'a', 'b']);
    expect(p.stats().threads).toBe(0);
    await expect(p.run('late')).rejects.toBeInstanceOf(ClosedError);
    expect(p.close()).toBe(p.close());

    const q = pool({ maxThreads: 1 });
    const busy = q.run(undefined, { name: 'forever' }).catch((e: unknown) => e);
    const queued = q.run('x').catch((e: unknown) => e);
    await q.destroy();
    expect(await busy).toBeInstanceOf(ClosedError);
    expect(await queued).toBeInstanceOf(ClosedError);
    expect(q.stats().threads).toBe(0);
  });

  it('keeps minThreads, ends idle threads above it, and reports stats', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }); // the idle timer; threads run for real
    const p = pool({ minThreads: 1, maxThreads: 2, idleTimeout: 5000 });
    const exits: string[] = [];
    p.on('workerExit', ({ reason }) => exits.push(reason));
    await Promise.all([p.run(20, { name: 'spin' }), p.run(20, { name: 'spin' })]);
    expect(p.stats().threads).toBe(2);
    const exited = once(p, 'workerExit');
    vi.advanceTimersByTime(5000);
    await exited;
    expect(exits).toEqual(['idle']);
    expect(p.stats().threads).toBe(1); // minThreads stays
    const stats = p.stats();
    expect(stats.completed).toBe(2);
    expect(stats.runTime.count).toBe(2);
    expect(stats.runTime.p50).toBeGreaterThan(0);
    expect(stats.waitTime.count).toBe(2);
    expect(stats.utilization).toBeGreaterThan(0);
  });

  it('an idle pool does not keep the process alive; a closed one leaves nothing', () => {
    const script = `
      const { WorkerPool } = await import('sluice');
      const pool = new WorkerPool({ filename: ${JSON.stringify(tasks.href)}, minThreads: 2 });
      console.log(await pool.run({ a: 20, b: 22 }, { name: 'add' }));
      // no close(): idle threads must not hold the process`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe('42');
  });

  it('validates its options', () => {
    expect(() => new WorkerPool({ filename: '' })).toThrow(
      'Expected `filename` to be a path or a file URL, got `` (string)',
    );
    expect(() => new WorkerPool({ filename: tasks, minThreads: 3, maxThreads: 2 })).toThrow(
      'Expected `minThreads` to be at most `maxThreads` (2), got `3` (number)',
    );
  });
});
