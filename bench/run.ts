/**
 * The core limiters side by side with the packages they replace, in one
 * process. Every scenario runs each implementation several times, in rotating
 * order, and reports the median. bench/matrix.ts runs this file under each
 * Node line, with and without an AsyncLocalStorage in use, and writes the
 * tables into bench/RESULTS.md.
 *
 *   node --expose-gc --import tsx bench/run.ts --json out.json [--als] [--quick]
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { Mutex as AMMutex, Semaphore as AMSemaphore } from 'async-mutex';
import { Sema } from 'async-sema';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import compatPLimit from '../dist/compat/p-limit.js';
import CompatPQueue from '../dist/compat/p-queue.js';
import { limit, Mutex, Semaphore, TaskQueue } from '../dist/index.js';
import { median } from './lib.js';
import { minimalLimit } from './minimal-limit.mjs';

const quick = process.argv.includes('--quick');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (npm run bench does)');
const jsonOut = process.argv[process.argv.indexOf('--json') + 1];
if (!process.argv.includes('--json') || jsonOut === undefined) throw new Error('usage: run.ts --json <file> [--als]');
// Every app with tracing or APM has an AsyncLocalStorage in use: the limiters
// must then carry each caller's context to its queued work.
const als = process.argv.includes('--als');
if (als) new AsyncLocalStorage<{ requestId: number }>().enterWith({ requestId: 1 });

type Task = (i: number) => Promise<number>;
/** Immediately-resolving work: the cost measured is the limiter's. */
const instant: Task = (i) => Promise.resolve(i);
/** Work that yields to the event loop once, like a tiny real I/O call. */
const io: Task = (i) => new Promise((resolve) => setImmediate(resolve, i));

type Runner = (n: number, concurrency: number, task: Task) => Promise<unknown>;

const ids = (n: number) => Array.from({ length: n }, (_, i) => i);

const runners: Record<string, Runner> = {
  'Promise.all (no limit)': (n, _c, task) => Promise.all(ids(n).map(task)),
  'minimal ring-buffer limiter (floor)': (n, c, task) => {
    const l = minimalLimit(c);
    return Promise.all(ids(n).map((i) => l(task, i)));
  },
  'sluice limit': (n, c, task) => {
    const l = limit(c);
    return Promise.all(ids(n).map((i) => l(task, i)));
  },
  'p-limit 7': (n, c, task) => {
    const l = pLimit(c);
    return Promise.all(ids(n).map((i) => l(task, i)));
  },
  'sluice/compat/p-limit': (n, c, task) => {
    const l = compatPLimit(c);
    return Promise.all(ids(n).map((i) => l(task, i)));
  },
  'sluice TaskQueue': (n, c, task) => {
    const q = new TaskQueue({ concurrency: c });
    return Promise.all(ids(n).map((i) => q.add(() => task(i))));
  },
  'p-queue 9': (n, c, task) => {
    const q = new PQueue({ concurrency: c });
    return Promise.all(ids(n).map((i) => q.add(() => task(i))));
  },
  'sluice/compat/p-queue': (n, c, task) => {
    const q = new CompatPQueue({ concurrency: c });
    return Promise.all(ids(n).map((i) => q.add(() => task(i))));
  },
  'sluice Semaphore (acquire/release)': (n, c, task) => {
    const s = new Semaphore(c);
    return Promise.all(
      ids(n).map(async (i) => {
        const permit = await s.acquire();
        try {
          return await task(i);
        } finally {
          permit.release();
        }
      }),
    );
  },
  'async-sema 3 (acquire/release)': (n, c, task) => {
    const s = new Sema(c);
    return Promise.all(
      ids(n).map(async (i) => {
        await s.acquire();
        try {
          return await task(i);
        } finally {
          s.release();
        }
      }),
    );
  },
  'sluice Semaphore.run': (n, c, task) => {
    const s = new Semaphore(c);
    return Promise.all(ids(n).map((i) => s.run(() => task(i))));
  },
};

// async-mutex is ~40x slower per task (its queue costs O(n) per operation) and
// allocates for seconds per run; in the rotation above it would perturb the
// others' medians, so it is compared in a section of its own, at 100k only.
const asyncMutexRunners: Record<string, Runner> = {
  'sluice Semaphore.run': runners['sluice Semaphore.run'] as Runner,
  'async-mutex Semaphore.runExclusive': (n, c, task) => {
    const s = new AMSemaphore(c);
    return Promise.all(ids(n).map((i) => s.runExclusive(() => task(i))));
  },
};

const mutexRunners: Record<string, Runner> = {
  'sluice Mutex.run': (n, _c, task) => {
    const m = new Mutex();
    return Promise.all(ids(n).map((i) => m.run(() => task(i))));
  },
  'async-mutex Mutex.runExclusive': (n, _c, task) => {
    const m = new AMMutex();
    return Promise.all(ids(n).map((i) => m.runExclusive(() => task(i))));
  },
};

interface Row {
  name: string;
  medianMs: number;
  usPerTask: number;
  runs: number[];
}

async function scenario(
  set: Record<string, Runner>,
  n: number,
  concurrency: number,
  task: Task,
  runs: number,
): Promise<Row[]> {
  const names = Object.keys(set);
  const times = new Map<string, number[]>(names.map((name) => [name, []]));
  // Warm-up: one small run of each so the JIT has seen every path.
  for (const name of names) await (set[name] as Runner)(Math.min(n, 10_000), concurrency, task);
  for (let r = 0; r < runs; r++) {
    // Rotate the order each run so no implementation always goes first.
    const order = names.map((_, i) => names[(i + r) % names.length] as string);
    for (const name of order) {
      gc?.();
      gc?.();
      const start = process.hrtime.bigint();
      await (set[name] as Runner)(n, concurrency, task);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      times.get(name)?.push(ms);
    }
  }
  return names.map((name) => {
    const t = times.get(name) as number[];
    const m = median(t);
    return { name, medianMs: m, usPerTask: (m * 1000) / n, runs: t };
  });
}

/** Heap retained per queued task: queue n calls behind one that never finishes. */
async function memoryPerQueuedTask(n: number): Promise<{ name: string; bytes: number }[]> {
  type Queuer = () => { enqueue(i: number): Promise<unknown>; release(): void };
  const queuers: Record<string, Queuer> = {
    'sluice limit': () => {
      const l = limit(1);
      let open!: () => void;
      l(() => new Promise<void>((r) => (open = r)));
      return { enqueue: (i) => l(instant, i), release: () => open() };
    },
    'p-limit 7': () => {
      const l = pLimit(1);
      let open!: () => void;
      l(() => new Promise<void>((r) => (open = r)));
      return { enqueue: (i) => l(instant, i), release: () => open() };
    },
    'sluice TaskQueue': () => {
      const q = new TaskQueue({ concurrency: 1 });
      let open!: () => void;
      q.add(() => new Promise<void>((r) => (open = r)));
      return { enqueue: (i) => q.add(() => instant(i)), release: () => open() };
    },
    'p-queue 9': () => {
      const q = new PQueue({ concurrency: 1 });
      let open!: () => void;
      q.add(() => new Promise<void>((r) => (open = r)));
      return { enqueue: (i) => q.add(() => instant(i)), release: () => open() };
    },
    'sluice Semaphore': () => {
      const s = new Semaphore(1);
      const first = s.tryAcquire();
      return {
        enqueue: () => s.acquire().then((p) => p.release()),
        release: () => first?.release(),
      };
    },
    'async-sema 3': () => {
      const s = new Sema(1);
      s.tryAcquire();
      return { enqueue: () => s.acquire().then(() => s.release()), release: () => s.release() };
    },
    'async-mutex Semaphore': () => {
      const s = new AMSemaphore(1);
      let open!: () => void;
      s.runExclusive(() => new Promise<void>((r) => (open = r)));
      return { enqueue: (i) => s.runExclusive(() => instant(i)), release: () => open() };
    },
  };
  const out: { name: string; bytes: number }[] = [];
  for (const [name, make] of Object.entries(queuers)) {
    const samples: number[] = [];
    // async-mutex: 1M queued calls take minutes to drain (O(n) queue); 100k shows its per-task heap.
    const count = name.startsWith('async-mutex') ? Math.min(n, 100_000) : n;
    for (let r = 0; r < (quick ? 1 : 3); r++) {
      const keep: Promise<unknown>[] = new Array(count);
      gc?.();
      gc?.();
      const before = process.memoryUsage().heapUsed;
      const q = make();
      for (let i = 0; i < count; i++) keep[i] = q.enqueue(i);
      gc?.();
      gc?.();
      const after = process.memoryUsage().heapUsed;
      samples.push((after - before) / count);
      // Some libraries start even the first call a microtask later: let it start.
      await new Promise((resolve) => setImmediate(resolve));
      q.release();
      await Promise.all(keep);
    }
    out.push({
      name: count === n ? name : `${name} (${count.toLocaleString('en-US')} queued)`,
      bytes: median(samples),
    });
    console.log(`memory: ${name} ${Math.round(median(samples))} B`);
  }
  return out;
}

const started = Date.now();
const runs100k = quick ? 3 : 11;
const headline: Record<string, Row[]> = {};
for (const c of [1, 10, 100]) {
  headline[`instant:${c}`] = await scenario(runners, 100_000, c, instant, runs100k);
  console.log(`done: 100k x c=${c}`);
}
headline['io:100'] = await scenario(runners, 100_000, 100, io, quick ? 3 : 5);
headline['async-mutex:100'] = await scenario(asyncMutexRunners, 100_000, 100, instant, quick ? 3 : 5);
headline['mutex:1'] = await scenario(mutexRunners, 100_000, 1, instant, quick ? 3 : 5);
console.log('done: mixed + mutex');
const memory = await memoryPerQueuedTask(quick ? 100_000 : 1_000_000);
writeFileSync(
  jsonOut,
  JSON.stringify({
    node: process.version,
    als,
    quick,
    memoryQueued: quick ? 100_000 : 1_000_000,
    seconds: Math.round((Date.now() - started) / 1000),
    headline,
    memory,
  }),
);
console.log(`written to ${jsonOut}`);
