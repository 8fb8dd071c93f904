/**
 * RedisSemaphore with many waiters in several processes, against
 * redis-semaphore (the package users pick for a Redis semaphore), on a
 * private redis-server (so INFO commandstats counts this run alone).
 * Writes its section of bench/RESULTS.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { median, writeSection } from './lib.js';

const quick = process.argv.includes('--quick');
const permits = 50;
const hold = 20;
const procs = 3;
const sizes = quick ? [100, 500] : [100, 500, 1500];
const rounds = quick ? 1 : 3;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

const port = await freePort();
const redisServer: ChildProcess = spawn(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
await new Promise<void>((resolve) => {
  let log = '';
  redisServer.stdout?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
    if (log.includes('Ready to accept connections')) resolve();
  });
});
const url = `redis://127.0.0.1:${port}`;
const admin = new Redis(url);

interface Outcome {
  seconds: number;
  failures: number;
  granted: number;
  commands: number;
  scripts: number;
}

async function run(impl: string, waiters: number): Promise<Outcome> {
  const name = `bench-${impl}-${waiters}-${Date.now()}`;
  await admin.call('CONFIG', 'RESETSTAT');
  const startAt = Date.now() + 1500; // every process started and connected by then
  const children = Array.from({ length: procs }, () => {
    const child = spawn(
      process.execPath,
      [
        new URL('./redis/crowd-child.mjs', import.meta.url).pathname,
        JSON.stringify({ impl, url, name, permits, waiters, hold, startAt }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    return once(child, 'exit').then(
      () => JSON.parse(out.trim()) as { end: number; failures: number; granted: number; firstFailure?: string },
    );
  });
  const results = await Promise.all(children);
  const info = String(await admin.call('INFO', 'commandstats'));
  let commands = 0;
  let scripts = 0;
  for (const [, command, calls] of info.matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)) {
    if (command === 'info' || command === 'config') continue;
    commands += Number(calls);
    if (command === 'evalsha' || command === 'eval') scripts += Number(calls);
  }
  const failures = results.reduce((sum, r) => sum + r.failures, 0);
  if (failures > 0) console.error(`${impl} ${waiters}: ${results.find((r) => r.firstFailure)?.firstFailure}`);
  return {
    seconds: (Math.max(...results.map((r) => r.end)) - startAt) / 1000,
    failures,
    granted: results.reduce((sum, r) => sum + r.granted, 0),
    commands,
    scripts,
  };
}

// The scripts are loaded once before anything is measured (a fresh server answers NOSCRIPT once per script).
await run('sluice', 20);
const lines: string[] = [
  '## Redis semaphore: 3 processes, 50 permits, each waiter holds its permit 20 ms',
  '',
  `Node ${process.version}, a private redis-server, ${rounds} rounds (medians; the implementations alternate within each round). Ideal time = waiters x 20 ms / 50. "Calls per acquire" counts what the clients sent (both send only Lua scripts: EVALSHA/EVAL); "Redis commands per acquire" also counts the commands those scripts ran inside the server (INFO commandstats).`,
  '',
  '| implementation | waiters (3 x) | time s | x ideal | failed | calls per acquire | Redis commands per acquire |',
  '|---|---:|---:|---:|---:|---:|---:|',
];
for (const waiters of sizes) {
  const results = new Map<string, Outcome[]>();
  for (let round = 0; round < rounds; round++) {
    for (const impl of round % 2 === 0 ? ['sluice', 'redis-semaphore'] : ['redis-semaphore', 'sluice']) {
      const outcome = await run(impl, waiters);
      results.set(impl, [...(results.get(impl) ?? []), outcome]);
      console.log(impl, waiters, JSON.stringify(outcome));
    }
  }
  const ideal = (procs * waiters * hold) / permits / 1000;
  for (const [impl, label] of [
    ['sluice', 'sluice RedisSemaphore'],
    ['redis-semaphore', 'redis-semaphore 5 Semaphore (polls every 10 ms)'],
  ] as const) {
    const all = results.get(impl) ?? [];
    const acquires = procs * waiters;
    const seconds = median(all.map((o) => o.seconds));
    const calls = median(all.map((o) => o.scripts / acquires)); // both send Lua scripts only
    lines.push(
      `| ${label} | ${waiters.toLocaleString('en-US')} | ${seconds.toFixed(2)} | ${(seconds / ideal).toFixed(2)} | ${median(all.map((o) => o.failures))} | ${calls.toFixed(1)} | ${median(all.map((o) => o.commands / acquires)).toFixed(1)} |`,
    );
  }
}
lines.push(
  '',
  'Target: 3 x 1,500 waiters within 1.5x of the ideal, none failed, at most 4 calls per acquire whatever the number of waiters. Before the hand-off (every release woke every process, which asked again for each of its waiters), the same run took 5.7-5.9 s (3.2x ideal) at 78 script calls per acquire.',
  '',
);
console.log(writeSection('redis-semaphore', lines, quick).split('\n').slice(1, -1).join('\n'));
admin.disconnect();
redisServer.kill('SIGKILL');
