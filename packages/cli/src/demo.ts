// `sluice demo`: the migration story through the command itself. A local
// service with a hidden capacity (32 workers of 40 ms, a queue of 32, 503
// past it) and a published rate limit (600 requests/s, 429 past it) gets the
// same items three ways: all at once (what `Promise.all` does), at a fixed
// concurrency someone guessed, and with `--concurrency auto` under the
// published rate, with retries.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Service } from './demo/Service.js';
import { parseCount } from './units.js';

interface Scenario {
  readonly name: string;
  readonly flags: readonly string[];
}

const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));

export async function demo(options: { items: string }): Promise<number> {
  const items = parseCount('--items', options.items, 1);
  const scenarios: Scenario[] = [
    { name: 'every item at once (Promise.all)', flags: ['-c', String(items)] },
    { name: 'a fixed guess', flags: ['-c', '8', '--retries', '3'] },
    { name: 'adaptive, within the published rate', flags: ['-c', 'auto', '--rate', '550/s', '--retries', '3'] },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'sluice-demo-'));
  try {
    writeFileSync(join(dir, 'ids.txt'), `${Array.from({ length: items }, (_, i) => `user-${i + 1}`).join('\n')}\n`);
    process.stdout.write(
      `sluice demo: ${items} items, one HTTP request each, against a local service that serves 32 at once\n(40 ms each; 503 once its queue is full) and publishes a rate limit of 600 requests/s (429 past it).\n\n`,
    );
    const rows = [['scenario', 'flags', 'wall time', 'items/s', 'ok', 'failed', '503s', '429s', 'p99']];
    for (const scenario of scenarios) rows.push(await runScenario(scenario, dir));
    process.stdout.write(`${table(rows)}\n`);
    process.stdout.write(
      '\nAll at once, most items fail (503: over capacity; 429: over the rate) and nothing retries them.\nA fixed guess is safe but leaves capacity unused. --concurrency auto finds the capacity,\n--rate keeps under the published limit, --retries takes care of the rest.\n',
    );
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runScenario(scenario: Scenario, dir: string): Promise<string[]> {
  const service = new Service({ capacity: 32, latency: 40, queue: 32, rateLimit: { limit: 600, interval: 1000 } });
  const url = await service.start();
  const out = join(dir, 'out.ndjson');
  const args = [
    'run',
    '-i',
    join(dir, 'ids.txt'),
    '-o',
    out,
    '--no-journal',
    '--failures',
    join(dir, 'failures.ndjson'),
  ];
  const started = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(
      process.execPath,
      [BIN, ...args, '--progress', 'none', '--http', `GET ${url}/profiles/{}`, ...scenario.flags],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr.resume();
    child.on('close', resolve);
  });
  const elapsed = performance.now() - started;
  await service.close();
  if (code !== 0 && code !== 1) throw new Error(`the scenario "${scenario.name}" ended with exit code ${code}`);
  const results = readFileSync(out, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { status: string; duration: number });
  const ok = results.filter((r) => r.status === 'ok').length;
  const durations = results.map((r) => r.duration).sort((a, b) => a - b);
  const p99 = durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.99))] ?? 0;
  return [
    scenario.name,
    scenario.flags.join(' '),
    `${(elapsed / 1000).toFixed(2)} s`,
    String(Math.round((results.length * 1000) / elapsed)),
    String(ok),
    String(results.length - ok),
    String(service.statuses.get(503) ?? 0),
    String(service.statuses.get(429) ?? 0),
    `${Math.round(p99)} ms`,
  ];
}

function table(rows: readonly string[][]): string {
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  '),
    )
    .join('\n');
}
