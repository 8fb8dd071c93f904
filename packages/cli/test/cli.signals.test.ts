import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { records, scratch, sluice, startSluice } from './helpers.js';

/** Resolve once `count` items have begun (each touches started-<item>). */
async function started(dir: string, count: number): Promise<void> {
  while (readdirSync(dir).filter((f) => f.startsWith('started-')).length < count) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const items = `${Array.from({ length: 10 }, (_, i) => i).join('\n')}\n`;

describe('sluice run: signals', () => {
  let tmp: ReturnType<typeof scratch>;
  beforeEach(() => {
    tmp = scratch();
  });
  afterEach(() => tmp.remove());

  it('the first SIGINT stops intake and lets running items finish; they are journaled; exit 130; --resume runs the rest', async () => {
    // Each item waits for a file the test creates, so "running" is certain when the signal comes.
    const run = startSluice(
      ['run', '-c', '2', '--', 'sh', '-c', 'touch started-$0; while [ ! -e go ]; do sleep 0.02; done; echo $0'],
      {
        cwd: tmp.dir,
        stdin: items,
      },
    );
    await started(tmp.dir, 2);
    // The signal is handled before any child can exit (they wait for `go`): no new item starts.
    run.child.kill('SIGINT');
    writeFileSync(tmp.path('go'), '');
    const ended = await run.done;
    expect(ended.code).toBe(130);
    expect(records(ended.stdout).map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(ended.stderr).toMatch(/interrupted by SIGINT.*--resume/);
    const resumed = await sluice(['run', '--resume', '-c', '2', '--', 'sh', '-c', 'echo $0'], {
      cwd: tmp.dir,
      stdin: items,
    });
    // The command changed (it no longer waits), so the journal refuses: that is the point of the fingerprint.
    expect(resumed.code).toBe(2);
    const again = await sluice(
      [
        'run',
        '--resume',
        '-c',
        '2',
        '--',
        'sh',
        '-c',
        'touch started-$0; while [ ! -e go ]; do sleep 0.02; done; echo $0',
      ],
      { cwd: tmp.dir, stdin: items },
    );
    expect(again.code).toBe(0);
    expect(records(again.stdout)).toHaveLength(8);
    expect(again.stderr).toMatch(/8 ok, 0 failed, 0 invalid, 2 skipped/);
  });

  it('a second SIGINT ends running children; they are not journaled, so --resume runs them', async () => {
    const run = startSluice(
      ['run', '-c', '2', '--kill-grace', '100ms', '--', 'sh', '-c', 'touch started-$0; exec sleep 30'],
      {
        cwd: tmp.dir,
        stdin: items,
      },
    );
    await started(tmp.dir, 2);
    run.child.kill('SIGINT');
    // Signals of one kind sent back to back merge into one: send the second once the first is seen.
    await run.stderr(/SIGINT: starting nothing more; waiting up to 30.0 s for 2 running items/);
    run.child.kill('SIGINT');
    const ended = await run.done;
    expect(ended.code).toBe(130);
    expect(ended.stdout).toBe('');
    expect(ended.stderr).toMatch(/2 items left unfinished/);
    const journal = readFileSync(tmp.path('sluice.journal'), 'utf8');
    expect(journal.split('\n').filter((l) => l.startsWith('+') || l.startsWith('-'))).toEqual([]);
  });

  it('SIGTERM exits 143; --grace bounds how long running items may take', async () => {
    const run = startSluice(
      [
        'run',
        '-c',
        '1',
        '--grace',
        '200ms',
        '--kill-grace',
        '100ms',
        '--',
        'sh',
        '-c',
        'touch started-$0; exec sleep 30',
      ],
      {
        cwd: tmp.dir,
        stdin: items,
      },
    );
    await started(tmp.dir, 1);
    run.child.kill('SIGTERM');
    const ended = await run.done;
    expect(ended.code).toBe(143);
    expect(ended.stderr).toMatch(/interrupted by SIGTERM; 1 items left unfinished/);
    expect(existsSync(tmp.path('started-1'))).toBe(false);
  });
});
