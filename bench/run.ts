/**
 * `npm run bench`: sluice side by side with the packages it replaces, in one
 * process. Every scenario runs each implementation several times, in rotating
 * order, and reports the median. Results go to bench/RESULTS.md.
 *
 *   npm run bench              full run (several minutes)
 *   npm run bench -- --quick   fewer runs, 100k tasks only (a smoke check; written to
 *                              bench/RESULTS.quick.md, which is not kept)
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Mutex as AMMutex, Semaphore as AMSemaphore } from 'async-mutex';
import { Sema } from 'async-sema';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import compatPLimit from '../dist/compat/p-limit.js';
import CompatPQueue from '../dist/compat/p-queue.js';
import { limit, Mutex, Semaphore, TaskQueue } from '../dist/index.js';
import { median } from './lib.js';

const quick = process.argv.includes('--quick');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (npm run bench does)');

type Task = (i: number) => Promise<number>;
/** Immediately-resolving work: the cost measured is the limiter's. */
const instant: Task = (i) => Promise.resolve(i);
/** Work that yields to the event loop once, like a tiny real I/O call. */
const io: Task = (i) => new Promise((resolve) => setImmediate(resolve, i));

type Runner = (n: number, concurrency: number, task: Task) => Promise<unknown>;

const ids = (n: number) => Array.from({ length: n }, (_, i) => i);

const runners: Record<string, Runner> = {
  'Promise.all (no limit)': (n, _c, task) => Promise.all(ids(n).map(task)),
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

function table(rows: Row[], baseline: string): string {
  const base = rows.find((r) => r.name === baseline)?.medianMs ?? Number.NaN;
  const lines = ['| implementation | median ms | µs/task | × sluice time |', '|---|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${r.medianMs.toFixed(1)} | ${r.usPerTask.toFixed(3)} | ${(r.medianMs / base).toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

const report: string[] = [];
const started = Date.now();
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
report.push('# Benchmark results');
report.push('');
report.push(
  `Generated by \`npm run bench\`${quick ? ' (--quick)' : ''} on ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${os.platform()} ${os.arch()}, ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB.`,
);
report.push('All implementations run in one process; each figure is the median of several runs in rotating order');
report.push('(after a warm-up run). Times include creating the tasks and awaiting every result. Lower is better.');
report.push('"× sluice time" divides by the sluice row named in each section: above 1 means slower than sluice.');
report.push('');

const runs100k = quick ? 3 : 11;
const runs1m = 3;
const sizes: [number, number][] = process.argv.includes('--mem-only')
  ? []
  : quick
    ? [[100_000, runs100k]]
    : [
        [100_000, runs100k],
        [1_000_000, runs1m],
      ];
const headline: Record<string, Row[]> = {};

for (const [n, runs] of sizes) {
  for (const c of [1, 10, 100]) {
    const rows = await scenario(runners, n, c, instant, runs);
    headline[`${n}:${c}`] = rows;
    report.push(`## ${n.toLocaleString('en-US')} immediately-resolving tasks, concurrency ${c} (${runs} runs)`);
    report.push('');
    report.push(table(rows, 'sluice limit'));
    report.push('');
    console.log(`done: ${n} x c=${c}`);
  }
}

if (!process.argv.includes('--mem-only')) {
  const n = 100_000;
  const rows = await scenario(runners, n, 100, io, quick ? 3 : 5);
  report.push(
    `## Mixed workload: ${n.toLocaleString('en-US')} tasks that each wait for one \`setImmediate\`, concurrency 100`,
  );
  report.push('');
  report.push(table(rows, 'sluice limit'));
  report.push('');
  const amRows = await scenario(asyncMutexRunners, n, 100, instant, quick ? 3 : 5);
  report.push(
    `## async-mutex: ${n.toLocaleString('en-US')} immediately-resolving tasks, concurrency 100 (measured apart)`,
  );
  report.push('');
  report.push(table(amRows, 'sluice Semaphore.run'));
  report.push('');
  const mutexRows = await scenario(mutexRunners, n, 1, instant, quick ? 3 : 5);
  report.push(`## Mutex: ${n.toLocaleString('en-US')} immediately-resolving critical sections`);
  report.push('');
  report.push(table(mutexRows, 'sluice Mutex.run'));
  report.push('');
  console.log('done: mixed + mutex');
}

const memN = process.argv.includes('--mem-only') ? 100_000 : 1_000_000;
const memory = await memoryPerQueuedTask(memN);
report.push(`## Heap per queued task (${memN.toLocaleString('en-US')} calls queued behind a blocked one)`);
report.push('');
report.push(
  'Heap growth after GC divided by the number of queued calls; includes the caller’s promise and its slot in an array.',
);
report.push('');
report.push('| implementation | bytes per queued task |');
report.push('|---|---:|');
for (const m of memory) report.push(`| ${m.name} | ${Math.round(m.bytes)} |`);
report.push('');

// The targets of the foundation issue, checked against the figures above.
// Paired ratios: each round runs every implementation once, so the ratio of
// two implementations within a round cancels most of the machine's drift
// (on a shared VM whole rounds run 10-30% slower or faster). A target reports
// the median of the per-round ratios, with their range.
const pairedRatio = (key: string, slower: string, faster: string) => {
  const rows = headline[key];
  const a = rows?.find((r) => r.name === slower)?.runs ?? [];
  const b = rows?.find((r) => r.name === faster)?.runs ?? [];
  const ratios = a.map((t, i) => t / (b[i] as number)).filter(Number.isFinite);
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
};
const mem = (name: string) => memory.find((m) => m.name === name)?.bytes ?? Number.NaN;
const k = '100000:100';
type Check = [
  label: string,
  value: { median: number; min: number; max: number },
  unit: string,
  ok: (v: number) => boolean,
];
const one = (v: number) => ({ median: v, min: v, max: v });
const checks: Check[] = [
  [
    '`limit` vs p-limit, 100k tasks, c=100 (target ≥ 3× faster)',
    pairedRatio(k, 'p-limit 7', 'sluice limit'),
    '×',
    (v) => v >= 3,
  ],
  [
    '`limit` vs raw Promise.all, same work (target ≤ 3× slower)',
    pairedRatio(k, 'sluice limit', 'Promise.all (no limit)'),
    '× slower',
    (v) => v <= 3,
  ],
  [
    '`TaskQueue` vs p-queue, 100k tasks, c=100 (target ≥ 2× faster)',
    pairedRatio(k, 'p-queue 9', 'sluice TaskQueue'),
    '×',
    (v) => v >= 2,
  ],
  [
    'Heap per queued task, `limit` vs p-limit (target ≤ 0.5)',
    one(mem('sluice limit') / mem('p-limit 7')),
    '',
    (v) => v <= 0.5,
  ],
  [
    '`Semaphore` acquire/release vs async-sema, 100k, c=100 (target ≥ 1× as fast)',
    pairedRatio(k, 'async-sema 3 (acquire/release)', 'sluice Semaphore (acquire/release)'),
    '×',
    (v) => v >= 1,
  ],
];
const targetLines = [
  '## Targets',
  '',
  'Speed ratios are medians of per-round ratios (see the comment in bench/run.ts), with the lowest and highest round.',
  '',
  '| target | measured (median) | rounds: min – max | met |',
  '|---|---:|---:|:---:|',
];
for (const [label, value, unit, ok] of checks) {
  const range = value.min === value.max ? '' : `${value.min.toFixed(2)} – ${value.max.toFixed(2)}`;
  targetLines.push(`| ${label} | ${value.median.toFixed(2)}${unit} | ${range} | ${ok(value.median) ? 'yes' : 'NO'} |`);
}
report.splice(7, 0, ...targetLines, '');
report.push(`Total benchmark time: ${((Date.now() - started) / 1000).toFixed(0)} s.`);

const out = new URL(quick ? './RESULTS.quick.md' : './RESULTS.md', import.meta.url);
writeFileSync(out, `${report.join('\n')}\n`);
console.log(report.slice(0, 16).join('\n'));
console.log(`written to ${out.pathname.split('/').slice(-2).join('/')}`);
