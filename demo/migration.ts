/**
 * `npm run demo`: the migration this library exists for.
 *
 * 100,000 user ids; for each, fetch the profile from a service that can serve
 * 50 requests at once, then upsert it. First the naive version,
 *
 *     await Promise.all(ids.map(syncUser));
 *
 * then the same `syncUser` through sluice:
 *
 *     await limit(50).map(ids, syncUser);
 *
 * Each runs in its own process (demo/sync-users.ts) against one service process
 * (demo/profile-service.ts), and a table shows what happened. The naive run is
 * stopped after --naive-limit-s seconds if it has not finished by then, and the
 * table says so (on this machine, with 100,000 ids it never finishes: Node's
 * http.Agent bookkeeping goes quadratic and the process is busy for ~2 minutes
 * before every request has failed with EMFILE or a timeout).
 * Options: `npm run demo -- --ids 20000 --k 50 --naive-limit-s 15`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    ids: { type: 'string', default: '100000' },
    k: { type: 'string', default: '50' },
    capacity: { type: 'string', default: '50' },
    'naive-limit-s': { type: 'string', default: '15' },
  },
});
const total = Number(values.ids);
const k = Number(values.k);
const capacity = Number(values.capacity);
const naiveLimitMs = Number(values['naive-limit-s']) * 1000;

const service = fork(new URL('./profile-service.ts', import.meta.url), {
  env: { ...process.env, CAPACITY: String(capacity), LATENCY_MS: '2' },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const port = await new Promise<number>((resolve, reject) => {
  service.once('message', (message) => resolve((message as { port: number }).port));
  service.once('exit', (code) => reject(new Error(`profile service exited with code ${code}`)));
});

function serviceCall(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

interface Report {
  final: boolean;
  upserted: number;
  failed: number;
  errors: [string, number][];
  peakRssMiB: number;
}

async function run(variant: 'naive' | 'limit', label: string, limitMs: number) {
  await serviceCall('/reset');
  const started = performance.now();
  const child: ChildProcess = fork(new URL('./sync-users.ts', import.meta.url), {
    env: { ...process.env, PORT: String(port), IDS: String(total), K: String(k), VARIANT: variant },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let last: Report | undefined;
  child.on('message', (message) => {
    last = message as Report;
  });
  // Peak RSS read from outside: a child whose event loop is stuck cannot report it.
  let peakRssMiB = 0;
  const readPeak = () => {
    try {
      const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      if (kib) peakRssMiB = Math.max(peakRssMiB, Number(kib) / 1024);
    } catch {
      // not Linux, or already gone: the child's own report is used
    }
  };
  const sampler = setInterval(readPeak, 100);
  const stopped = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      readPeak();
      child.kill('SIGKILL');
      resolve(true);
    }, limitMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  const wallMs = performance.now() - started;
  clearInterval(sampler);
  const figures = last ?? { final: false, upserted: 0, failed: 0, errors: [], peakRssMiB: 0 };
  peakRssMiB = Math.max(peakRssMiB, figures.peakRssMiB);
  // Give the service a moment to notice closed connections before reading its counters.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const stats = JSON.parse(await serviceCall('/stats')) as { peakInFlight: number; rejected: number };
  return { label, stopped, responsive: last !== undefined, wallMs, ...figures, peakRssMiB, ...stats };
}

console.log(
  `profile service: at most ${capacity} requests at once (503 past that); syncing ${total.toLocaleString('en-US')} users\n`,
);
const naive = await run('naive', 'Promise.all (unbounded)', naiveLimitMs);
const bounded = await run('limit', `sluice limit(${k})`, 120_000);
service.kill();

const rows = [naive, bounded];
const pad = (value: string, width: number) => value.padStart(width);
console.log(
  `${'version'.padEnd(25)}${pad('wall time', 16)}${pad('peak RSS', 10)}${pad('upserted', 10)}${pad('failed', 9)}${pad('service peak in-flight', 24)}${pad('503s', 8)}`,
);
for (const r of rows) {
  const time = r.stopped ? `stopped at ${(r.wallMs / 1000).toFixed(0)} s` : `${(r.wallMs / 1000).toFixed(2)} s`;
  console.log(
    `${r.label.padEnd(25)}${pad(time, 16)}${pad(`${r.peakRssMiB.toFixed(0)} MiB`, 10)}${pad(r.upserted.toLocaleString('en-US'), 10)}${pad(r.failed.toLocaleString('en-US'), 9)}${pad(String(r.peakInFlight), 24)}${pad(r.rejected.toLocaleString('en-US'), 8)}`,
  );
}
console.log('');
for (const r of rows) {
  const errors = r.errors.map(([e, n]) => `${e} x${n.toLocaleString('en-US')}`).join(', ');
  if (r.stopped) {
    const pending = (total - r.upserted - r.failed).toLocaleString('en-US');
    const state = r.responsive
      ? `failures so far: ${errors || 'none'}`
      : 'its event loop never got to run a progress report: it was still starting requests';
    console.log(
      `${r.label}: stopped after ${(r.wallMs / 1000).toFixed(0)} s with ${pending} users not synced; ${state}.`,
    );
  } else if (errors) console.log(`${r.label} failures: ${errors}`);
}
if (bounded.stopped || bounded.failed !== 0 || bounded.upserted !== total) {
  console.error('\nThe bounded run should sync every user without a failure.');
  process.exitCode = 1;
}
