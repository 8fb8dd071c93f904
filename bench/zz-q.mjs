import { AsyncLocalStorage } from 'node:async_hooks';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { Sema } from 'async-sema';
import { limit, TaskQueue, Semaphore } from '../dist/index.js';
if (process.argv.includes('--als')) { const als = new AsyncLocalStorage(); als.enterWith({ id: 1 }); }
function minimal(c) {
  let buf = new Array(1024), head = 0, len = 0, mask = 1023, active = 0;
  const push = (j) => { if (len === buf.length) { const n = new Array(buf.length * 2); for (let i = 0; i < len; i++) n[i] = buf[(head + i) & mask]; buf = n; head = 0; mask = n.length - 1; } buf[(head + len++) & mask] = j; };
  const next = () => { active--; if (len > 0) { const j = buf[head]; buf[head] = undefined; head = (head + 1) & mask; len--; j(); } };
  return (fn, arg) => new Promise((resolve, reject) => {
    const job = () => { active++; fn(arg).then((v) => { resolve(v); next(); }, (e) => { reject(e); next(); }); };
    if (active < c) job(); else push(job);
  });
}
const instant = (i) => Promise.resolve(i);
const ids = (n) => Array.from({ length: n }, (_, i) => i);
const R = {
  minimal: (n, c) => { const l = minimal(c); return Promise.all(ids(n).map((i) => l(instant, i))); },
  limit: (n, c) => { const l = limit(c); return Promise.all(ids(n).map((i) => l(instant, i))); },
  plimit: (n, c) => { const l = pLimit(c); return Promise.all(ids(n).map((i) => l(instant, i))); },
  taskqueue: (n, c) => { const q = new TaskQueue({ concurrency: c }); return Promise.all(ids(n).map((i) => q.add(() => instant(i)))); },
  pqueue: (n, c) => { const q = new PQueue({ concurrency: c }); return Promise.all(ids(n).map((i) => q.add(() => instant(i)))); },
  sem: (n, c) => { const s = new Semaphore(c); return Promise.all(ids(n).map(async (i) => { const p = await s.acquire(); try { return await instant(i); } finally { p.release(); } })); },
  asyncsema: (n, c) => { const s = new Sema(c); return Promise.all(ids(n).map(async (i) => { await s.acquire(); try { return await instant(i); } finally { s.release(); } })); },
};
const names = Object.keys(R); const times = Object.fromEntries(names.map((n) => [n, []]));
for (const n of names) await R[n](10000, 100);
for (let r = 0; r < 9; r++) for (const n of names.map((_, i) => names[(i + r) % names.length])) { gc(); const t = process.hrtime.bigint(); await R[n](100000, 100); times[n].push(Number(process.hrtime.bigint() - t) / 1e6); }
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const ratio = (a, b) => med(times[a].map((t, i) => t / times[b][i]));
console.log(process.version, process.argv.includes('--als') ? 'ALS' : 'noALS', names.map((n) => `${n}=${(med(times[n]) * 10).toFixed(2)}us`).join(' '));
console.log(`  limit/minimal=${ratio('limit','minimal').toFixed(2)} plimit/limit=${ratio('plimit','limit').toFixed(2)} pqueue/tq=${ratio('pqueue','taskqueue').toFixed(2)} asyncsema/sem=${ratio('asyncsema','sem').toFixed(2)}`);
