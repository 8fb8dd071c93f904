/**
 * `npm run demo`: the migration this library exists for.
 *
 * 100,000 user ids; for each, fetch the profile from a service that can serve
 * 50 requests at once, then upsert it. First the naive version,
 *
 *     await Promise.all(ids.map(syncUser));
 *
 * then the same code through `limit(50)`:
 *
 *     const limited = limit(50);
 *     await limited.map(ids, syncUser);
 *
 * and a table of what happened. Options: `npm run demo -- --ids 20000 --k 50`.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { limit } from '../src/index.js';

const { values } = parseArgs({
  options: {
    ids: { type: 'string', default: '100000' },
    k: { type: 'string', default: '50' },
    capacity: { type: 'string', default: '50' },
    'naive-deadline-ms': { type: 'string', default: '20000' },
  },
});
const total = Number(values.ids);
const k = Number(values.k);
const capacity = Number(values.capacity);
const naiveDeadline = Number(values['naive-deadline-ms']);

// The service runs in its own process, so its limit and our memory are measured apart.
const service = fork(new URL('./profile-service.ts', import.meta.url), {
  env: { ...process.env, CAPACITY: String(capacity), LATENCY_MS: '2' },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const port = await new Promise<number>((resolve, reject) => {
  service.once('message', (message) => resolve((message as { port: number }).port));
  service.once('error', reject);
  service.once('exit', (code) => reject(new Error(`profile service exited with code ${code}`)));
});

const agent = new http.Agent({ keepAlive: true });

function get(path: string, signal?: AbortSignal): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

// The "database": an upsert into an in-memory table.
const table = new Map<number, { id: number; name: string; plan: string }>();

interface Run {
  failed: number;
  errors: Map<string, number>;
}

function makeSyncUser(run: Run, signal: AbortSignal) {
  return async (id: number): Promise<void> => {
    try {
      const { status, body } = await get(`/users/${id}`, signal);
      if (status !== 200) throw new Error(`HTTP ${status}`);
      const profile = JSON.parse(body) as { id: number; name: string; plan: string };
      table.set(profile.id, profile);
    } catch (error) {
      run.failed++;
      const key = (error as { code?: string }).code ?? (error as Error).message;
      run.errors.set(key, (run.errors.get(key) ?? 0) + 1);
    }
  };
}

async function measure(name: string, body: (run: Run, signal: AbortSignal) => Promise<unknown>, deadlineMs: number) {
  await get('/reset');
  table.clear();
  const run: Run = { failed: 0, errors: new Map() };
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  // A deadline keeps the naive run bounded: whatever is still pending then is aborted and counted.
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(new Error('deadline')), deadlineMs);
  const started = performance.now();
  await body(run, controller.signal);
  const wallMs = performance.now() - started;
  clearTimeout(deadline);
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  agent.destroy(); // close every socket before the next run
  const stats = JSON.parse((await get('/stats')).body) as { peakInFlight: number; rejected: number };
  return {
    name,
    wallMs,
    peakRssMiB: peakRss / 2 ** 20,
    failed: run.failed,
    upserted: table.size,
    peakInFlight: stats.peakInFlight,
    rejected503: stats.rejected,
    errors: [...run.errors].sort((a, b) => b[1] - a[1]).slice(0, 3),
  };
}

const ids = Array.from({ length: total }, (_, i) => i + 1);
console.log(
  `profile service: at most ${capacity} requests at once (503 past that); ${total.toLocaleString('en-US')} ids\n`,
);

const naive = await measure(
  'Promise.all (unbounded)',
  (run, signal) => {
    const syncUser = makeSyncUser(run, signal);
    return Promise.all(ids.map(syncUser));
  },
  naiveDeadline,
);
// Let the process settle (sockets closing, GC) before the second run.
await new Promise((resolve) => setTimeout(resolve, 500));
const bounded = await measure(
  `sluice limit(${k})`,
  (run, signal) => {
    const syncUser = makeSyncUser(run, signal);
    const limited = limit(k);
    return limited.map(ids, syncUser);
  },
  120_000,
);

const rows = [naive, bounded];
const cell = (value: string, width: number) => value.padStart(width);
console.log(
  `${'version'.padEnd(26)}${cell('wall time', 11)}${cell('peak RSS', 11)}${cell('failed', 9)}${cell('upserted', 10)}${cell('server peak in-flight', 23)}${cell('503s', 8)}`,
);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(26)}${cell(`${(r.wallMs / 1000).toFixed(2)} s`, 11)}${cell(`${r.peakRssMiB.toFixed(0)} MiB`, 11)}${cell(r.failed.toLocaleString('en-US'), 9)}${cell(r.upserted.toLocaleString('en-US'), 10)}${cell(String(r.peakInFlight), 23)}${cell(r.rejected503.toLocaleString('en-US'), 8)}`,
  );
}
for (const r of rows) {
  if (r.errors.length > 0)
    console.log(`\n${r.name} failures: ${r.errors.map(([e, n]) => `${e} x${n.toLocaleString('en-US')}`).join(', ')}`);
}

service.disconnect();
agent.destroy();
if (bounded.failed !== 0 || bounded.upserted !== total) {
  console.error('\nThe bounded run should have synced every user without a failure.');
  process.exitCode = 1;
}
