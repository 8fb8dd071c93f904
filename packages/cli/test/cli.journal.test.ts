import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { records, scratch, sluice } from './helpers.js';

// The journal is keyed by item key, never by input position (GNU parallel's
// --resume keys on position: a line inserted at the top makes it skip the new
// item and rerun one that had succeeded).
describe('sluice run: journal and resume', () => {
  let tmp: ReturnType<typeof scratch>;
  beforeEach(() => {
    tmp = scratch();
  });
  afterEach(() => tmp.remove());

  const ran = (stdout: string) =>
    records<{ stdout: string }>(stdout)
      .map((r) => r.stdout.trim())
      .sort();

  it('--resume skips done items whatever their position; a new line at the top runs', async () => {
    writeFileSync(tmp.path('in.txt'), 'b\nc\nd\n');
    const first = await sluice(['run', '-i', 'in.txt', '--', 'echo'], { cwd: tmp.dir });
    expect(first.code).toBe(0);
    expect(ran(first.stdout)).toEqual(['b', 'c', 'd']);
    writeFileSync(tmp.path('in.txt'), 'a\nb\nc\nd\ne\n');
    const second = await sluice(['run', '-i', 'in.txt', '--resume', '--', 'echo'], { cwd: tmp.dir });
    expect(second.code).toBe(0);
    expect(ran(second.stdout)).toEqual(['a', 'e']);
    expect(second.stderr).toMatch(/2 ok, 0 failed, 0 invalid, 3 skipped/);
  });

  it('without --resume an existing journal is refused (exit 2), nothing runs', async () => {
    writeFileSync(tmp.path('in.txt'), 'a\n');
    await sluice(['run', '-i', 'in.txt', '--', 'echo'], { cwd: tmp.dir });
    const again = await sluice(['run', '-i', 'in.txt', '--', 'echo'], { cwd: tmp.dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/sluice.journal holds 1 items of an earlier run: pass --resume/);
    expect(again.stdout).toBe('');
    const fresh = await sluice(['run', '-i', 'in.txt', '--fresh', '--', 'echo'], { cwd: tmp.dir });
    expect(ran(fresh.stdout)).toEqual(['a']);
  });

  it('--resume skips failed items too; --retry-failed runs them again and keeps the done ones', async () => {
    writeFileSync(tmp.path('in.ndjson'), '{"id":"a","ok":0}\n{"id":"b","ok":1}\n{"id":"c","ok":1}\n');
    const script = ['sh', '-c', 'test -e pass-$0 || test $1 = 1', '{id}', '{ok}'];
    const first = await sluice(['run', '-i', 'in.ndjson', '--key', 'id', '--', ...script], { cwd: tmp.dir });
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/2 ok, 1 failed/);
    const resumed = await sluice(['run', '-i', 'in.ndjson', '--key', 'id', '--resume', '--', ...script], {
      cwd: tmp.dir,
    });
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toBe('');
    expect(resumed.stderr).toMatch(/3 skipped/);
    writeFileSync(tmp.path('pass-a'), '');
    const retried = await sluice(['run', '-i', 'in.ndjson', '--key', 'id', '--retry-failed', '--', ...script], {
      cwd: tmp.dir,
    });
    expect(retried.code).toBe(0);
    expect(records(retried.stdout).map((r) => r.key)).toEqual(['a']);
    const after = await sluice(['run', '-i', 'in.ndjson', '--key', 'id', '--retry-failed', '--', ...script], {
      cwd: tmp.dir,
    });
    expect(after.stdout).toBe('');
  });

  it('a changed command refuses to resume unless --allow-changed', async () => {
    writeFileSync(tmp.path('in.txt'), 'a\nb\n');
    await sluice(['run', '-i', 'in.txt', '--', 'echo'], { cwd: tmp.dir });
    const changed = await sluice(['run', '-i', 'in.txt', '--resume', '--', 'echo', 'v2', '{}'], { cwd: tmp.dir });
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/was written for another command or request.*--allow-changed/);
    const allowed = await sluice(['run', '-i', 'in.txt', '--resume', '--allow-changed', '--', 'echo', 'v2', '{}'], {
      cwd: tmp.dir,
    });
    expect(allowed.code).toBe(0);
    expect(allowed.stderr).toMatch(/2 skipped/);
  });

  it('a torn last line (a crash mid-write) is dropped: that item runs again, the others are skipped', async () => {
    writeFileSync(tmp.path('in.txt'), 'a\nb\nc\n');
    await sluice(['run', '-i', 'in.txt', '--key', '{}', '--', 'echo'], { cwd: tmp.dir });
    const journal = readFileSync(tmp.path('sluice.journal'), 'utf8');
    const keep = journal.split('\n').filter((line) => line !== '' && line !== '+c');
    writeFileSync(tmp.path('sluice.journal'), `${keep.join('\n')}\n`);
    appendFileSync(tmp.path('sluice.journal'), '+c-torn');
    const resumed = await sluice(['run', '-i', 'in.txt', '--key', '{}', '--resume', '--', 'echo'], { cwd: tmp.dir });
    expect(ran(resumed.stdout)).toEqual(['c']);
    expect(readFileSync(tmp.path('sluice.journal'), 'utf8')).not.toMatch(/c-torn/);
    expect(readFileSync(tmp.path('sluice.journal'), 'utf8')).toMatch(/\n\+c\n/);
  });

  it('keys with quotes, tabs and newlines survive the journal', async () => {
    writeFileSync(tmp.path('in.ndjson'), `${JSON.stringify({ k: 'a "q"\tb\nc' })}\n${JSON.stringify({ k: '"x' })}\n`);
    await sluice(['run', '-i', 'in.ndjson', '--key', 'k', '--', 'true'], { cwd: tmp.dir });
    const resumed = await sluice(['run', '-i', 'in.ndjson', '--key', 'k', '--resume', '--', 'true'], { cwd: tmp.dir });
    expect(resumed.stderr).toMatch(/0 ok, 0 failed, 0 invalid, 2 skipped/);
  });

  it('--no-journal writes no journal', async () => {
    await sluice(['run', '--no-journal', '--', 'true'], { cwd: tmp.dir, stdin: 'a\n' });
    expect(() => readFileSync(tmp.path('sluice.journal'))).toThrow(/ENOENT/);
  });
});
