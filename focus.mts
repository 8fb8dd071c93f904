import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { limit, TaskQueue } from './dist/index.js';

const N = 100_000,
  C = 100;
const ids = Array.from({ length: N }, (_, i) => i);
const task = (i: number) => Promise.resolve(i);
const impls: Record<string, () => Promise<unknown>> = {
  all: () => Promise.all(ids.map(task)),
  sluice: () => {
    const l = limit(C);
    return Promise.all(ids.map((i) => l(task, i)));
  },
  plimit: () => {
    const l = pLimit(C);
    return Promise.all(ids.map((i) => l(task, i)));
  },
  tq: () => {
    const q = new TaskQueue({ concurrency: C });
    return Promise.all(ids.map((i) => q.add(() => task(i))));
  },
  pq: () => {
    const q = new PQueue({ concurrency: C });
    return Promise.all(ids.map((i) => q.add(() => task(i))));
  },
};
const only = process.argv[2]?.split(',');
const res: Record<string, number[]> = {};
for (let r = 0; r < 9; r++)
  for (const [k, f] of Object.entries(impls)) {
    if (only && !only.includes(k)) continue;
    (globalThis as any).gc();
    const t = performance.now();
    await f();
    (res[k] ??= []).push(performance.now() - t);
  }
for (const [k, v] of Object.entries(res)) {
  v.sort((a, b) => a - b);
  console.log(k, ((v[4] * 1000) / N).toFixed(3), 'us/task');
}
