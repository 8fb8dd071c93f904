/**
 * `npm run bench` (first step): the core limiters under the conditions users
 * meet: Node 24 (the active LTS) and the Node running this script, each with
 * and without an AsyncLocalStorage in use. Each combination runs in a process
 * of its own (bench/run.ts, and the pool throughput of bench/pool.ts); this
 * script writes the targets table and the tables into bench/RESULTS.md.
 *
 *   npm run bench              full run
 *   npm run bench -- --quick   fewer runs (bench/RESULTS.quick.md, not kept)
 *
 * Node 24 comes from the npm registry's `node` package, installed once into
 * node_modules/.cache/sluice-bench (or set SLUICE_BENCH_NODE24 to a binary).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, writeSection } from './lib.js';

const quick = process.argv.includes('--quick');
const root = fileURLToPath(new URL('..', import.meta.url));

function node24(): string {
  const given = process.env.SLUICE_BENCH_NODE24;
  if (given !== undefined && given !== '') return given;
  const dir = join(root, 'node_modules', '.cache', 'sluice-bench');
  const bin = join(dir, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(bin)) {
    console.log('installing node@24 for the benchmarks into node_modules/.cache/sluice-bench');
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', dir, 'node@24'], {
      stdio: 'inherit',
    });
  }
  return bin;
}

interface Row {
  name: string;
  medianMs: number;
  usPerTask: number;
  runs: number[];
}
interface Result {
  node: string;
  als: boolean;
  memoryQueued: number;
  seconds: number;
  headline: Record<string, Row[]>;
  memory: { name: string; bytes: number }[];
  pool?: Record<string, number[]>;
}

const binaries = [node24(), process.execPath];
const tmp = mkdtempSync(join(os.tmpdir(), 'sluice-bench-'));
const results: Result[] = [];
for (const bin of binaries) {
  for (const als of [true, false]) {
    const out = join(tmp, `run-${results.length}.json`);
    const poolOut = join(tmp, `pool-${results.length}.json`);
    const flags = [...(als ? ['--als'] : []), ...(quick ? ['--quick'] : [])];
    for (const [script, file] of [
      ['bench/run.ts', out],
      ['bench/pool.ts', poolOut],
    ] as const) {
      const run = spawnSync(bin, ['--expose-gc', '--import', 'tsx', script, '--json', file, ...flags], {
        cwd: root,
        stdio: 'inherit',
      });
      if (run.status !== 0) throw new Error(`${script} failed under ${bin} (${run.status ?? run.signal})`);
    }
    const result = JSON.parse(readFileSync(out, 'utf8')) as Result;
    result.pool = JSON.parse(readFileSync(poolOut, 'utf8')) as Record<string, number[]>;
    results.push(result);
  }
}

const label = (r: Result) => `Node ${r.node.slice(1).split('.')[0]}${r.als ? ' + ALS' : ''}`;

/** Median of per-round ratios (each round runs every implementation once: the machine's drift cancels). */
function paired(a: number[], b: number[]): { median: number; min: number; max: number } {
  const ratios = a.map((t, i) => t / (b[i] as number)).filter(Number.isFinite);
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}
const runsOf = (r: Result, key: string, name: string) => r.headline[key]?.find((row) => row.name === name)?.runs ?? [];
const bytes = (r: Result, name: string) => r.memory.find((m) => m.name === name)?.bytes ?? Number.NaN;

type Target = {
  label: string;
  applies: (r: Result) => boolean;
  value: (r: Result) => { median: number; min: number; max: number };
  unit: string;
  ok: (v: number) => boolean;
};
const node24Only = (r: Result) => r.node.startsWith('v24');
const every = () => true;
const one = (v: number) => ({ median: v, min: v, max: v });
const targets: Target[] = [
  {
    label: '`limit()` time ÷ minimal ring-buffer limiter, 100k, c=100 (target ≤ 1.15)',
    applies: every,
    value: (r) =>
      paired(runsOf(r, 'instant:100', 'sluice limit'), runsOf(r, 'instant:100', 'minimal ring-buffer limiter (floor)')),
    unit: '',
    ok: (v) => v <= 1.15,
  },
  {
    label: '`limit()` vs p-limit, 100k, c=100 (target ≥ 4× faster on Node 24)',
    applies: node24Only,
    value: (r) => paired(runsOf(r, 'instant:100', 'p-limit 7'), runsOf(r, 'instant:100', 'sluice limit')),
    unit: '×',
    ok: (v) => v >= 4,
  },
  {
    label: '`TaskQueue` vs p-queue, 100k, c=100 (target ≥ 3× faster on Node 24)',
    applies: node24Only,
    value: (r) => paired(runsOf(r, 'instant:100', 'p-queue 9'), runsOf(r, 'instant:100', 'sluice TaskQueue')),
    unit: '×',
    ok: (v) => v >= 3,
  },
  {
    label: '`Semaphore` acquire/release vs async-sema, 100k, c=100 (target ≥ 1.5× faster)',
    applies: every,
    value: (r) =>
      paired(
        runsOf(r, 'instant:100', 'async-sema 3 (acquire/release)'),
        runsOf(r, 'instant:100', 'sluice Semaphore (acquire/release)'),
      ),
    unit: '×',
    ok: (v) => v >= 1.5,
  },
  {
    label: 'Heap per queued call, `limit()` ÷ p-limit (target ≤ 0.5)',
    applies: every,
    value: (r) => one(bytes(r, 'sluice limit') / bytes(r, 'p-limit 7')),
    unit: '',
    ok: (v) => v <= 0.5,
  },
  {
    label: '`Pool` acquire/release, 64 callers on 10 resources, vs generic-pool (target ≥ 2× faster)',
    applies: every,
    value: (r) => paired(r.pool?.['generic-pool 3'] ?? [], r.pool?.['sluice Pool'] ?? []),
    unit: '×',
    ok: (v) => v >= 2,
  },
];

const lines: string[] = [];
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
lines.push(
  '# Core limiters',
  '',
  `Generated by \`npm run bench\`${quick ? ' (--quick)' : ''} on ${new Date().toISOString().slice(0, 10)}: ${os.platform()} ${os.arch()}, ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB.`,
  `Each combination runs in a process of its own: ${results.map((r) => `${label(r)} (${r.node}, ${r.seconds} s)`).join(', ')}.`,
  '"+ ALS" means an `AsyncLocalStorage` store is in use (`enterWith` at start), as in any app with tracing or APM: queued work must then run in its caller\'s context.',
  'Within a process all implementations run side by side, in rotating order, after a warm-up; times include creating the tasks and awaiting every result.',
  '',
  '## Targets',
  '',
  "Speed ratios are medians of per-round ratios (each round runs every implementation once, so the machine's drift cancels), with the lowest and highest round.",
  '',
  '| target | measured on | median | rounds: min – max | met |',
  '|---|---|---:|---:|:---:|',
);
for (const target of targets) {
  for (const r of results) {
    if (!target.applies(r)) continue;
    const v = target.value(r);
    const range = v.min === v.max ? '' : `${v.min.toFixed(2)} – ${v.max.toFixed(2)}`;
    lines.push(
      `| ${target.label} | ${label(r)} | ${v.median.toFixed(2)}${target.unit} | ${range} | ${target.ok(v.median) ? 'met' : 'not met'} |`,
    );
  }
}
lines.push('');

function table(rows: Row[], baseline: string): string[] {
  const base = rows.find((r) => r.name === baseline)?.medianMs ?? Number.NaN;
  const out = ['| implementation | median ms | µs/task | × sluice time |', '|---|---:|---:|---:|'];
  for (const r of rows) {
    out.push(
      `| ${r.name} | ${r.medianMs.toFixed(1)} | ${r.usPerTask.toFixed(3)} | ${(r.medianMs / base).toFixed(2)} |`,
    );
  }
  return out;
}

const sections: [key: string, title: string, baseline: string][] = [
  ['instant:100', '100,000 immediately-resolving tasks, concurrency 100', 'sluice limit'],
  ['instant:10', '100,000 immediately-resolving tasks, concurrency 10', 'sluice limit'],
  ['instant:1', '100,000 immediately-resolving tasks, concurrency 1', 'sluice limit'],
  ['io:100', '100,000 tasks that each wait for one `setImmediate`, concurrency 100', 'sluice limit'],
  [
    'async-mutex:100',
    'async-mutex, 100,000 immediately-resolving tasks, concurrency 100 (measured apart)',
    'sluice Semaphore.run',
  ],
  ['mutex:1', 'Mutex: 100,000 immediately-resolving critical sections', 'sluice Mutex.run'],
];
for (const r of results) {
  lines.push(`## ${label(r)}`, '');
  for (const [key, title, baseline] of sections) {
    const rows = r.headline[key];
    if (rows === undefined) continue;
    lines.push(`### ${title}`, '', ...table(rows, baseline), '');
  }
  lines.push(
    `### Heap per queued call (${r.memoryQueued.toLocaleString('en-US')} calls queued behind a blocked one)`,
    '',
    'Heap growth after GC divided by the number of queued calls; includes the caller’s promise and its slot in an array.',
    '',
    '| implementation | bytes per queued call |',
    '|---|---:|',
    ...r.memory.map((m) => `| ${m.name} | ${Math.round(m.bytes)} |`),
    '',
  );
  if (r.pool !== undefined) {
    lines.push(
      '### Pool acquire/release, 64 callers on 10 warm resources',
      '',
      '| pool | median ms per round |',
      '|---|---:|',
      ...Object.entries(r.pool).map(([name, ms]) => `| ${name} | ${median(ms).toFixed(1)} |`),
      '',
    );
  }
}
console.log(writeSection('core', lines, quick).split('\n').slice(0, 40).join('\n'));
