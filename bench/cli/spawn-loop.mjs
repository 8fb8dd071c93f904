// The minimal Node spawn loop the command is measured against: N workers, one
// child per input line, stdout and stderr collected (as sluice records them).
// Usage: node spawn-loop.mjs <items-file> <concurrency> <program>
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [file, concurrency, program] = process.argv.slice(2);
const items = readFileSync(file, 'utf8').split('\n').filter(Boolean);
let next = 0;
const run = (item) =>
  new Promise((resolve) => {
    const child = spawn(program, [item], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('close', (code) => resolve([code, out]));
  });
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (next < items.length) await run(items[next++]);
  }),
);
