/**
 * The `sluice` command beside the tools people use for the same job, each a
 * real process on this machine, several rounds in turn (medians of paired
 * per-round figures):
 * - per-item CPU (user + system of the whole process tree, GNU time) running
 *   `true` over 20,000 items 8 at once: sluice, `xargs -P`, GNU parallel
 *   (installed from Debian when missing and possible; its row is skipped
 *   with a note otherwise) and a minimal Node spawn loop;
 * - HTTP mode: 50,000 GETs 64 at once against a local node:http service,
 *   sluice vs a raw `undici.request` loop (and, for reference, a raw loop on
 *   undici's `dispatch`, the level sluice sends at); the service on one core and
 *   the client on the other when `taskset` is there, so that the two do not
 *   trade places on the cores from round to round;
 * - peak RSS of the intake on 1,000,000 and 10,000,000 lines (`--dry-run`,
 *   so the input size is the only thing that changes);
 * - resuming a finished 1,000,000-item journal.
 * Writes its section into bench/RESULTS.md between the cli markers.
 *   npm run bench:cli [-- --quick]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyOf } from '../packages/cli/src/Runner.js';
import { median, writeSection } from './lib.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 3;
/** The HTTP rounds are short (a few seconds each) and noisier: more of them. */
const HTTP_ROUNDS = quick ? 1 : 7;
const ITEMS = quick ? 4000 : 20_000;
const REQUESTS = quick ? 10_000 : 50_000;
const BIN = fileURLToPath(new URL('../packages/cli/bin/sluice.js', import.meta.url));
const here = (name: string) => fileURLToPath(new URL(`./cli/${name}`, import.meta.url));
const undici = createRequire(fileURLToPath(new URL('../packages/cli/package.json', import.meta.url))).resolve('undici');
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-cli-'));
const node = process.execPath;

interface Measured {
  readonly wall: number;
  readonly cpu: number;
  readonly rss: number;
}

/** Run a command line under GNU time: wall s, CPU s (user + system, children included), peak RSS KiB. */
function measure(command: string, args: readonly string[], stdin?: string): Measured {
  const out = join(dir, 'time.txt');
  const result = spawnSync('/usr/bin/time', ['-o', out, '-f', '%e %U %S %M', command, ...args], {
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'],
    input: stdin === undefined ? undefined : readFileSync(stdin),
    maxBuffer: 1024 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  const [wall, user, system, rss] = readFileSync(out, 'utf8').trim().split('\n').at(-1)?.split(' ').map(Number) ?? [];
  return { wall: wall as number, cpu: (user as number) + (system as number), rss: rss as number };
}

function gnuParallel(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v parallel'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  if (process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
    spawnSync('apt-get', ['install', '-y', '-qq', 'parallel'], { stdio: 'ignore' });
    const again = spawnSync('sh', ['-c', 'command -v parallel'], { encoding: 'utf8' }).stdout.trim();
    if (again) return again;
  }
  return undefined;
}

/** The arguments of `sluice run` with results to /dev/null and no progress, then `args`. */
const sluiceArgs = (input: string, concurrency: number, journal: string | undefined, ...args: string[]) => [
  BIN,
  'run',
  '-i',
  input,
  '-c',
  String(concurrency),
  '-o',
  '/dev/null',
  '--progress',
  'none',
  ...(journal === undefined ? ['--no-journal'] : ['--journal', journal, '--fresh']),
  ...args,
];
const sluiceRun = (input: string, concurrency: number, journal: string | undefined, ...args: string[]) =>
  measure(node, sluiceArgs(input, concurrency, journal, ...args));

/** Run every tool once per round, in an order rotated each round so that none always runs first (or last). */
function rounds<T>(tools: readonly (readonly [string, () => T])[], count = ROUNDS): Map<string, T[]> {
  const results = new Map<string, T[]>(tools.map(([name]) => [name, []]));
  for (let round = 0; round < count; round++) {
    for (let k = 0; k < tools.length; k++) {
      const [name, run] = tools[(k + round) % tools.length] as readonly [string, () => T];
      results.get(name)?.push(run());
    }
  }
  return results;
}

const lines = (n: number) => `${Array.from({ length: n }, (_, i) => i + 1).join('\n')}\n`;
const ms = (s: number) => (s * 1000).toFixed(3);

function commandRows(): string[] {
  const items = join(dir, 'items.txt');
  writeFileSync(items, lines(ITEMS));
  const parallel = gnuParallel();
  const tools: [string, () => Measured][] = [
    ['minimal Node spawn loop', () => measure(node, [here('spawn-loop.mjs'), items, '8', 'true'])],
    ['sluice run -c 8 (journal on)', () => sluiceRun(items, 8, join(dir, 'j'), '--', 'true')],
    ['sluice run -c 8 --no-journal', () => sluiceRun(items, 8, undefined, '--', 'true')],
    ['xargs -P 8 -n 1', () => measure('xargs', ['-P', '8', '-n', '1', 'true'], items)],
  ];
  if (parallel) tools.push(['GNU parallel -j 8', () => measure(parallel, ['-j', '8', 'true', '{}', '::::', items])]);
  const measured = rounds(tools);
  const perItem = new Map([...measured].map(([name, ms]) => [name, ms.map((m) => m.cpu / ITEMS)]));
  const wall = new Map([...measured].map(([name, ms]) => [name, ms.map((m) => m.wall)]));
  const loop = perItem.get('minimal Node spawn loop') as number[];
  const sluice = perItem.get('sluice run -c 8 (journal on)') as number[];
  const rows = [
    `### \`true\` over ${ITEMS.toLocaleString('en-US')} items, 8 at once (CPU of the process tree per item; ${ROUNDS} rounds)`,
    '',
    '| tool | CPU ms / item (median) | wall s (median) |',
    '| --- | ---: | ---: |',
    ...tools.map(
      ([name]) =>
        `| ${name} | ${ms(median(perItem.get(name) as number[]))} | ${median(wall.get(name) as number[]).toFixed(2)} |`,
    ),
    '',
    `- sluice (journal on) minus the minimal spawn loop, per round: median ${ms(median(sluice.map((s, i) => s - (loop[i] as number))))} ms / item (target: within 0.5 ms).`,
  ];
  if (parallel) {
    const gnu = perItem.get('GNU parallel -j 8') as number[];
    rows.push(
      `- GNU parallel ÷ sluice, per round: median ${median(gnu.map((g, i) => g / (sluice[i] as number))).toFixed(2)}× (target: >= 2×).`,
    );
  } else {
    rows.push(
      '- GNU parallel is not installed and could not be installed here (no root or no apt-get): its row is left out.',
    );
  }
  return rows;
}

async function httpRows(): Promise<string[]> {
  const pin = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).stdout.trim();
  const onCore = (core: number, command: string, args: readonly string[]) =>
    pin ? ([pin, ['-c', String(core), command, ...args]] as const) : ([command, args] as const);
  const [serverCommand, serverArgs] = onCore(0, node, [here('http-server.mjs')]);
  const server = spawn(serverCommand, serverArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(server.stdout, 'data')) as [Buffer];
  const base = chunk.toString().trim();
  const ids = join(dir, 'ids.txt');
  writeFileSync(ids, lines(REQUESTS));
  const client = (args: readonly string[]) => measure(...onCore(1, node, args));
  const sluiceHttp = (journal: string | undefined) =>
    client(sluiceArgs(ids, 64, journal, '--http', `GET ${base}/items/{}`));
  const runs: [string, () => Measured][] = [
    ['raw undici.request loop', () => client([here('undici-loop.mjs'), undici, ids, '64', base])],
    ['raw undici dispatch loop (reference)', () => client([here('dispatch-loop.mjs'), undici, ids, '64', base])],
    ['sluice run --http -c 64 (journal on)', () => sluiceHttp(join(dir, 'jh'))],
    ['sluice run --http -c 64 --no-journal', () => sluiceHttp(undefined)],
  ];
  let rates: Map<string, number[]>;
  try {
    rates = new Map([...rounds(runs, HTTP_ROUNDS)].map(([name, ms]) => [name, ms.map((m) => REQUESTS / m.wall)]));
  } finally {
    server.kill();
  }
  const raw = rates.get('raw undici.request loop') as number[];
  const sluice = rates.get('sluice run --http -c 64 (journal on)') as number[];
  const ratios = sluice.map((s, i) => s / (raw[i] as number));
  return [
    `### HTTP: ${REQUESTS.toLocaleString('en-US')} GETs, 64 at once, against a local node:http service (${HTTP_ROUNDS} rounds; wall time includes the process start${pin ? '; the service pinned to core 0, each client to core 1' : ''})`,
    '',
    '| client | requests/s (median) |',
    '| --- | ---: |',
    ...runs.map(([name]) => `| ${name} | ${Math.round(median(rates.get(name) as number[]))} |`),
    '',
    `- sluice (journal on) ÷ the raw \`undici.request\` loop, per round: median ${(median(ratios) * 100).toFixed(0)}% (rounds: ${ratios.map((r) => `${(r * 100).toFixed(0)}%`).join(', ')}; target: >= 70%).`,
    '- sluice sends through `dispatch` with a handler of its own (no response stream per request), which is why it can pass the `request` loop; the dispatch loop is the floor for that.',
  ];
}

async function bigFile(path: string, n: number): Promise<void> {
  const out = createWriteStream(path);
  const block = 100_000;
  for (let from = 0; from < n; from += block) {
    let text = '';
    for (let i = from; i < Math.min(n, from + block); i++) text += `user-${i}\n`;
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function memoryAndResumeRows(): Promise<string[]> {
  const small = join(dir, '1m.txt');
  const large = join(dir, '10m.txt');
  await bigFile(small, 1_000_000);
  await bigFile(large, quick ? 2_000_000 : 10_000_000);
  const intake = (file: string) =>
    measure(node, [
      BIN,
      'run',
      '-i',
      file,
      '-c',
      '64',
      '--dry-run',
      '-o',
      '/dev/null',
      '--progress',
      'none',
      '--',
      'true',
    ]);
  const rss1: number[] = [];
  const rss10: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rss1.push(intake(small).rss);
    rss10.push(intake(large).rss);
  }
  // A finished journal of the 1,000,000 items: the header sluice writes for this
  // command (from a one-item run), then one `+key` line per item (its default
  // key, computed by sluice's own keyOf).
  const journal = join(dir, 'resume.journal');
  const one = join(dir, 'one.txt');
  writeFileSync(one, 'user-0\n');
  execFileSync(node, [
    BIN,
    'run',
    '-i',
    one,
    '--journal',
    journal,
    '-o',
    '/dev/null',
    '--progress',
    'none',
    '--',
    'true',
  ]);
  const header = readFileSync(journal, 'utf8').split('\n')[0];
  writeFileSync(journal, `${header}\n`);
  let keys = '';
  for (let i = 0; i < 1_000_000; i++) {
    keys += `+${keyOf(`user-${i}`)}\n`;
    if (keys.length > 1 << 20) {
      appendFileSync(journal, keys);
      keys = '';
    }
  }
  appendFileSync(journal, keys);
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const m = measure(node, [
      BIN,
      'run',
      '-i',
      small,
      '--journal',
      journal,
      '--resume',
      '-o',
      '/dev/null',
      '--progress',
      'none',
      '--',
      'true',
    ]);
    rates.push(1_000_000 / m.wall);
  }
  const ratio = median(rss10.map((r, i) => r / (rss1[i] as number)));
  return [
    `### Memory: peak RSS of a run over 1,000,000 and ${quick ? '2,000,000' : '10,000,000'} lines (\`--dry-run -c 64\`: the intake, templates, results and their window; ${ROUNDS} rounds)`,
    '',
    '| input | peak RSS MiB (median) |',
    '| --- | ---: |',
    `| 1,000,000 lines | ${(median(rss1) / 1024).toFixed(1)} |`,
    `| ${quick ? '2,000,000' : '10,000,000'} lines | ${(median(rss10) / 1024).toFixed(1)} |`,
    '',
    `- larger ÷ 1,000,000, per round: median ${ratio.toFixed(2)} (target: <= 1.20).`,
    '',
    `### Resuming a finished 1,000,000-item journal (every item skipped; wall time includes the process start and reading the journal; ${ROUNDS} rounds)`,
    '',
    `- median ${Math.round(median(rates)).toLocaleString('en-US')} items skipped per second (target: >= 500,000).`,
  ];
}

try {
  const rows = [
    '## The sluice command',
    '',
    `Node ${process.version}, ${ROUNDS} rounds, tools in a rotating order each round. Commands run through GNU time; CPU is user + system of the whole process tree.`,
    '',
    ...commandRows(),
    '',
    ...(await httpRows()),
    '',
    ...(await memoryAndResumeRows()),
  ];
  console.log(writeSection('cli', rows, quick));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
