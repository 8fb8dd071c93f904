/**
 * Adaptive concurrency (`npm run bench` runs it after the others; `npm run
 * bench:adaptive` alone): the virtual-time simulation of every algorithm for
 * K in {5, 50, 500} under three kinds of overload (table here, chart in
 * bench/adaptive-simulation.svg) and the overhead per
 * call of AdaptiveLimiter next to a plain Semaphore. Writes its section into
 * bench/RESULTS.md between the adaptive markers.
 */
import { writeFileSync } from 'node:fs';
import { AdaptiveLimiter, aimd, gradient, gradient2, type LimitAlgorithm, Semaphore, vegas } from '../dist/index.js';
import { type Overload, type SimulationResult, simulate } from './adaptive/simulation.js';
import { median, writeSection } from './lib.js';

const quick = process.argv.includes('--quick');
const report: string[] = ['', '# Adaptive concurrency', ''];

const ks = [5, 50, 500];
const overloads: Overload[] = ['latency', 'errors', 'rejects'];
const algorithms: Record<string, () => LimitAlgorithm> = {
  gradient: () => gradient({ max: 10_000 }),
  aimd: () => aimd({ max: 10_000 }),
  vegas: () => vegas({ max: 10_000 }),
  gradient2: () => gradient2({ max: 10_000 }),
};
const colors: Record<string, string> = { gradient: '#1f6feb', aimd: '#d97706', vegas: '#16a34a', gradient2: '#9333ea' };
const runs: { overload: Overload; k: number; name: string; result: SimulationResult }[] = [];
for (const overload of overloads) {
  for (const k of ks) {
    for (const [name, algorithm] of Object.entries(algorithms)) {
      runs.push({
        overload,
        k,
        name,
        result: await simulate(
          k,
          (clock) => {
            const limiter = new AdaptiveLimiter({ algorithm: algorithm(), clock });
            return {
              run: (fn) => limiter.run(fn),
              get limit() {
                return limiter.limit;
              },
            };
          },
          { overload },
        ),
      });
    }
    if (overload !== 'latency') continue;
    for (const [name, n] of [
      ['fixed limit 2K', 2 * k],
      ['fixed limit K/4', Math.max(1, Math.round(k / 4))],
    ] as const) {
      runs.push({
        overload,
        k,
        name,
        result: await simulate(k, (clock) => {
          const sem = new Semaphore(n, { clock });
          return { run: (fn) => sem.run(fn), limit: n };
        }),
      });
    }
  }
}
report.push(
  '## Simulation: a downstream with hidden capacity K (virtual time, deterministic)',
  '',
  'Closed-loop clients (4K + 20) call a downstream of capacity K and unloaded latency L through an `AdaptiveLimiter` with each algorithm\'s defaults (`max: 10000`); 30 s of virtual time, figures over the last third (the limit sampled every 250 ms). Three ways to say "too much": **latency** (latency L x max(1, in flight / K), failures past 1.5 K), **errors** (latency stays L; every call that arrives with more than K in flight fails after L), **rejects** (the same, but refused at once: a 429 after L / 100). Same harness as `test/adaptive.simulation.test.ts`, which holds every algorithm to a median limit in [0.7 K, 1.1 K] with under 5% failed under errors and rejects. Chart: [adaptive-simulation.svg](adaptive-simulation.svg).',
  '',
  'Under **latency** only `gradient` settles near K: `aimd` reads no latency unless `maxRtt` is set, and `vegas` / `gradient2` (which compare against the lowest / a long-term average RTT) let it rise to 1.2-1.45 K, where the failures past 1.5 K hold them.',
  '',
  '| overload | K | limiter | median limit / K | mean limit / K | p99 latency / unloaded | throughput / capacity | failed |',
  '|---|---:|---|---:|---:|---:|---:|---:|',
);
for (const { overload, k, name, result } of runs) {
  report.push(
    `| ${overload} | ${k} | ${name} | ${(result.medianLimit / k).toFixed(2)} | ${(result.settledLimit / k).toFixed(2)} | ${result.failureRate === 1 ? '–' : result.p99Ratio.toFixed(2)} | ${result.utilization.toFixed(2)} | ${(result.failureRate * 100).toFixed(1)}% |`,
  );
}
report.push('');

// The chart: limit / K over time for each algorithm, one row per overload, one panel per K.
{
  const width = 300;
  const height = 140;
  const pad = 34;
  const yMax = 2;
  const panels: string[] = [];
  overloads.forEach((overload, row) => {
    ks.forEach((k, column) => {
      const x0 = column * (width + pad) + pad + 40;
      const y0 = row * (height + pad) + pad;
      const px = (t: number, maxT: number) => x0 + (t / maxT) * width;
      const py = (v: number) => y0 + height - (Math.min(v, yMax) / yMax) * height;
      panels.push(
        `<rect x="${x0}" y="${y0}" width="${width}" height="${height}" fill="none" stroke="#999"/>`,
        `<line x1="${x0}" x2="${x0 + width}" y1="${py(1)}" y2="${py(1)}" stroke="#bbb" stroke-dasharray="4 3"/>`,
        `<text x="${x0 + 4}" y="${y0 - 6}" font-size="12">${overload}, K = ${k}</text>`,
      );
      for (const name of Object.keys(algorithms)) {
        const series = runs.find((r) => r.overload === overload && r.k === k && r.name === name)?.result.series ?? [];
        const maxT = series[series.length - 1]?.t ?? 1;
        panels.push(
          `<polyline fill="none" stroke="${colors[name]}" stroke-width="1.2" points="${series.map((s) => `${px(s.t, maxT).toFixed(1)},${py(s.limit / k).toFixed(1)}`).join(' ')}"/>`,
        );
      }
    });
  });
  const legend = Object.keys(algorithms)
    .map((name) => `<tspan fill="${colors[name]}">${name}</tspan>`)
    .join('  ');
  const svgWidth = ks.length * (width + pad) + pad + 40;
  const svgHeight = overloads.length * (height + pad) + pad + 20;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${svgWidth}" height="${svgHeight}" font-family="sans-serif">`,
    '<title>Adaptive limit simulation: limit / K over 30 s for each algorithm; latency, errors and rejects overload; K = 5, 50, 500</title>',
    '<rect width="100%" height="100%" fill="white"/>',
    ...panels,
    `<text x="${pad + 40}" y="${svgHeight - 10}" font-size="11">limit / K (0 to 2; dashed: 1):  ${legend}  (dips of gradient: probes of the unloaded latency)</text>`,
    '</svg>',
  ].join('\n');
  writeFileSync(new URL('./adaptive-simulation.svg', import.meta.url), `${svg}\n`);
}

// Overhead per call next to a plain Semaphore (instant work, 100 at a time).
{
  const n = quick ? 20_000 : 200_000;
  const rounds = quick ? 3 : 7;
  const makers: Record<string, () => (fn: () => Promise<number>) => Promise<number>> = {
    'Semaphore(100).run': () => {
      const sem = new Semaphore(100);
      return (fn) => sem.run(fn);
    },
    'AdaptiveLimiter (aimd, limit 100).run': () => {
      const limiter = new AdaptiveLimiter({ algorithm: aimd({ initial: 100, min: 100, max: 100 }) });
      return (fn) => limiter.run(fn);
    },
  };
  const times = new Map<string, number[]>(Object.keys(makers).map((name) => [name, []]));
  const names = Object.keys(makers);
  const work = () => Promise.resolve(1);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length] as string;
      const run = (makers[name] as () => (fn: () => Promise<number>) => Promise<number>)();
      const start = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          while (next++ < n) await run(work);
        }),
      );
      times.get(name)?.push(performance.now() - start);
    }
  }
  const base = median(times.get('Semaphore(100).run') ?? []);
  report.push(`## Overhead: ${n.toLocaleString('en-US')} instant calls, 100 at a time (${rounds} rounds)`, '');
  report.push('| limiter | µs per call | × Semaphore |', '|---|---:|---:|');
  for (const [name, values] of times) {
    const m = median(values);
    report.push(`| ${name} | ${((m * 1000) / n).toFixed(3)} | ${(m / base).toFixed(2)} |`);
  }
  report.push('');
}

console.log(writeSection('adaptive', report, quick));
