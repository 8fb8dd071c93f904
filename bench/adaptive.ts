/**
 * Adaptive concurrency (`npm run bench` runs it after the others; `npm run
 * bench:adaptive` alone): the virtual-time simulation for K in {5, 50, 500}
 * (table here, chart in bench/adaptive-simulation.svg) and the overhead per
 * call of AdaptiveLimiter next to a plain Semaphore. Writes its section into
 * bench/RESULTS.md between the adaptive markers.
 */
import { writeFileSync } from 'node:fs';
import { AdaptiveLimiter, aimd, gradient, Semaphore } from '../dist/index.js';
import { type SimulationResult, simulate } from './adaptive/simulation.js';
import { median, writeSection } from './lib.js';

const quick = process.argv.includes('--quick');
const report: string[] = ['', '# Adaptive concurrency', ''];

const ks = [5, 50, 500];
const runs: { k: number; name: string; result: SimulationResult }[] = [];
for (const k of ks) {
  runs.push({
    k,
    name: 'AdaptiveLimiter (gradient)',
    result: await simulate(k, (clock) => {
      const limiter = new AdaptiveLimiter({ algorithm: gradient({ max: 10_000 }), clock });
      return {
        run: (fn) => limiter.run(fn),
        get limit() {
          return limiter.limit;
        },
      };
    }),
  });
  for (const [name, n] of [
    ['fixed limit 2K', 2 * k],
    ['fixed limit K/4', Math.max(1, Math.round(k / 4))],
  ] as const) {
    runs.push({
      k,
      name,
      result: await simulate(k, (clock) => {
        const sem = new Semaphore(n, { clock });
        return { run: (fn) => sem.run(fn), limit: n };
      }),
    });
  }
}
report.push(
  '## Simulation: a downstream with hidden capacity K (virtual time, deterministic)',
  '',
  'Closed-loop clients (4K + 20) call a downstream whose latency is L x max(1, in flight / K) and which fails past 1.5 K in flight; 30 s of virtual time, figures over the last third. Same harness as `test/adaptive.simulation.test.ts`. Chart: [adaptive-simulation.svg](adaptive-simulation.svg).',
  '',
  '| K | limiter | settled limit | limit / K | p99 latency / unloaded | throughput / capacity | failed |',
  '|---:|---|---:|---:|---:|---:|---:|',
);
for (const { k, name, result } of runs) {
  report.push(
    `| ${k} | ${name} | ${result.settledLimit.toFixed(1)} | ${(result.settledLimit / k).toFixed(2)} | ${result.failureRate === 1 ? '–' : result.p99Ratio.toFixed(2)} | ${result.utilization.toFixed(2)} | ${(result.failureRate * 100).toFixed(0)}% |`,
  );
}
report.push('');

// The chart: limit / K and p99 latency / unloaded latency over time, one panel per K.
{
  const width = 300;
  const height = 180;
  const pad = 30;
  const panels: string[] = [];
  ks.forEach((k, index) => {
    const series = runs.find((r) => r.k === k && r.name.startsWith('Adaptive'))?.result.series ?? [];
    const x0 = index * (width + pad) + pad;
    const maxT = series[series.length - 1]?.t ?? 1;
    const yMax = 2.5;
    const px = (t: number) => x0 + (t / maxT) * width;
    const py = (v: number) => pad + height - (Math.min(v, yMax) / yMax) * height;
    const line = (values: number[], color: string) =>
      `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${series.map((s, i) => `${px(s.t).toFixed(1)},${py(values[i] as number).toFixed(1)}`).join(' ')}"/>`;
    panels.push(
      `<rect x="${x0}" y="${pad}" width="${width}" height="${height}" fill="none" stroke="#999"/>`,
      `<line x1="${x0}" x2="${x0 + width}" y1="${py(1)}" y2="${py(1)}" stroke="#bbb" stroke-dasharray="4 3"/>`,
      `<line x1="${x0}" x2="${x0 + width}" y1="${py(2)}" y2="${py(2)}" stroke="#e99" stroke-dasharray="4 3"/>`,
      line(
        series.map((s) => s.limit / k),
        '#1f6feb',
      ),
      line(
        series.map((s) => s.p99Ratio),
        '#d97706',
      ),
      `<text x="${x0 + 4}" y="${pad - 8}" font-size="13">K = ${k}</text>`,
      `<text x="${x0}" y="${pad + height + 16}" font-size="10">0 s</text>`,
      `<text x="${x0 + width - 24}" y="${pad + height + 16}" font-size="10">${(maxT / 1000).toFixed(0)} s</text>`,
    );
  });
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${ks.length * (width + pad) + pad}" height="${height + 2 * pad + 30}" font-family="sans-serif">`,
    '<title>Adaptive limit simulation: limit / K and p99 latency over time, K = 5, 50, 500</title>',
    '<rect width="100%" height="100%" fill="white"/>',
    ...panels,
    `<text x="${pad}" y="${height + 2 * pad + 20}" font-size="11"><tspan fill="#1f6feb">limit / K</tspan>  <tspan fill="#d97706">p99 latency / unloaded latency</tspan>  (dashed: 1 and the 2x latency bound; dips: probes of the unloaded latency)</text>`,
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
