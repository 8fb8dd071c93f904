// A password-hashing endpoint: hashing on the event loop vs in a WorkerPool.
// 40 sign-ups arrive at once while a health check is polled every 5 ms; we
// report how late the event loop ran and how slow the health check became.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WorkerPool } from 'sluice';
// @ts-expect-error: a plain ES module, shared with the worker threads
import { hash } from './hash-worker.mjs';

const pool = new WorkerPool({ filename: new URL('./hash-worker.mjs', import.meta.url) });

async function trial(mode: 'event loop' | 'WorkerPool') {
  const server = createServer(async (req, res) => {
    if (req.url === '/health') return res.end('ok');
    const password = `secret-${Math.random()}`;
    const digest = mode === 'WorkerPool' ? await pool.run<string>(password, { name: 'hash' }) : hash(password);
    res.end(digest);
  });
  server.listen(0);
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  const healthMs: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const started = performance.now();
      await fetch(`${base}/health`).then((r) => r.text());
      healthMs.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 40 }, () => fetch(`${base}/signup`, { method: 'POST' }).then((r) => r.text())),
  );
  const total = performance.now() - started;
  polling = false;
  await poller;
  lag.disable();
  server.close();
  healthMs.sort((a, b) => a - b);
  return {
    mode,
    total: Math.round(total),
    lagMax: Math.round(lag.max / 1e6),
    healthMax: Math.round(healthMs[healthMs.length - 1] ?? 0),
  };
}

const rows = [await trial('event loop'), await trial('WorkerPool')];
await pool.close();
console.log('40 concurrent sign-ups (PBKDF2, 200,000 rounds each), health check polled meanwhile');
console.log(
  `${'hashing on'.padEnd(12)} ${'all done ms'.padStart(12)} ${'max loop lag ms'.padStart(16)} ${'slowest health ms'.padStart(18)}`,
);
for (const r of rows) {
  console.log(
    `${r.mode.padEnd(12)} ${String(r.total).padStart(12)} ${String(r.lagMax).padStart(16)} ${String(r.healthMax).padStart(18)}`,
  );
}
const [inline, pooled] = rows as [(typeof rows)[0], (typeof rows)[0]];
console.log(
  `the event loop stalled ${inline.lagMax > pooled.lagMax ? 'far less' : 'no less'} with the pool (${pooled.lagMax} ms vs ${inline.lagMax} ms)`,
);
