import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, scratch, sluice } from './helpers.js';

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** Run a command line in a real pseudo-terminal (util-linux `script`); resolve with what the terminal showed. */
function inTerminal(command: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command.map(quote).join(' '), '/dev/null'], {
      cwd,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let shown = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (shown += chunk));
    child.on('error', reject);
    child.on('close', () => resolve(shown));
  });
}

describe('sluice run: progress', () => {
  let tmp: ReturnType<typeof scratch>;
  beforeEach(() => {
    tmp = scratch();
    writeFileSync(tmp.path('in.txt'), `${Array.from({ length: 30 }, () => '0.05').join('\n')}\n`);
  });
  afterEach(() => tmp.remove());

  it('in a terminal: one line redrawn in place (done/total, rate, running, limit), at most 10 times a second, cleared at the end', async () => {
    const shown = await inTerminal(
      [process.execPath, BIN, 'run', '-i', 'in.txt', '-c', '2', '--no-journal', '-o', 'out.ndjson', '--', 'sleep'],
      tmp.dir,
    );
    const frames = shown.split('\r').filter((frame) => frame.startsWith('sluice ') && frame.endsWith('\x1b[K'));
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.at(-1)).toMatch(/^sluice \d+\/30 \d+%\s+[\d.]+\/s\s+(ETA .+\s+)?running \d+ \(limit 2\)/);
    const elapsed = Number(/items in ([\d.]+) (ms|s)/.exec(shown)?.[1]) * (/items in [\d.]+ s/.test(shown) ? 1000 : 1);
    // 10 redraws a second at most (a busy machine only draws fewer).
    expect(frames.length).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1);
    // The summary starts on a clean line.
    expect(shown).toContain('\r\x1b[Ksluice: 30 items in');
  });

  it('with stderr redirected: no control characters, only the summary', async () => {
    const ran = await sluice(['run', '-i', 'in.txt', '-c', '4', '--no-journal', '--', 'sleep'], { cwd: tmp.dir });
    expect(ran.code).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point of the test
    expect(ran.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(ran.stderr).toMatch(/^sluice: 30 items in .*30 ok/);
  });

  it('--progress json: one JSON object a second on stderr', async () => {
    writeFileSync(tmp.path('in.txt'), `${Array.from({ length: 6 }, () => '0.4').join('\n')}\n`);
    const ran = await sluice(['run', '-i', 'in.txt', '-c', '2', '--no-journal', '--progress', 'json', '--', 'sleep'], {
      cwd: tmp.dir,
    });
    const lines = ran.stderr.split('\n').filter((line) => line.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ total: 6, limit: 2, failed: 0 });
  });
});
