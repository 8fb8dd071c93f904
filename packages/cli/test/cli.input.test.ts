import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { records, scratch, sluice } from './helpers.js';

describe('sluice run: input', () => {
  let tmp: ReturnType<typeof scratch>;
  beforeEach(() => {
    tmp = scratch();
  });
  afterEach(() => tmp.remove());

  it('malformed NDJSON lines go to the failures file with their line numbers; the rest run; exit 1', async () => {
    writeFileSync(tmp.path('in.ndjson'), '{"id":1}\n{"id":\n\n{"id":3}\nnot json\n{"id":5}\n');
    const ran = await sluice(['run', '-i', 'in.ndjson', '--no-journal', '--', 'echo', '{id}'], { cwd: tmp.dir });
    expect(ran.code).toBe(1);
    expect(
      records<{ stdout: string }>(ran.stdout)
        .map((r) => r.stdout.trim())
        .sort(),
    ).toEqual(['1', '3', '5']);
    const failures = records<{ line: number; status: string; input: string }>(
      readFileSync(tmp.path('sluice-failures.ndjson'), 'utf8'),
    );
    expect(failures.map((f) => [f.line, f.status, f.input])).toEqual([
      [2, 'invalid', '{"id":'],
      [5, 'invalid', 'not json'],
    ]);
    expect(ran.stderr).toMatch(/3 ok, 0 failed, 2 invalid/);
  });

  it('malformed CSV records go to the failures file with their line numbers; fields fill placeholders', async () => {
    writeFileSync(tmp.path('in.csv'), 'id,name\n1,ann\n2,bob,extra\n3,"unterminated\n');
    const ran = await sluice(['run', '-i', 'in.csv', '--no-journal', '--', 'echo', '{name}:{id}'], { cwd: tmp.dir });
    expect(ran.code).toBe(1);
    expect(records<{ stdout: string }>(ran.stdout).map((r) => r.stdout.trim())).toEqual(['ann:1']);
    const failures = records<{ line: number; error: string }>(readFileSync(tmp.path('sluice-failures.ndjson'), 'utf8'));
    expect(failures.map((f) => f.line)).toEqual([3, 4]);
    expect(failures[0]?.error).toMatch(/invalid CSV/);
  });

  it('an item without the field a placeholder reads fails alone, with its line', async () => {
    writeFileSync(tmp.path('in.ndjson'), '{"id":1}\n{"other":2}\n');
    const ran = await sluice(['run', '-i', 'in.ndjson', '--no-journal', '--', 'echo', '{id}'], { cwd: tmp.dir });
    expect(ran.code).toBe(1);
    const out = records<{ line: number; status: string; error?: string }>(ran.stdout);
    expect(out.find((r) => r.line === 2)).toMatchObject({ status: 'failed', error: 'the item has no field `id`' });
    expect(out.find((r) => r.line === 1)).toMatchObject({ status: 'ok' });
  });

  it('reads stdin; {} {#} {json} and encodings render; a command without placeholder gets {} appended', async () => {
    const ran = await sluice(
      [
        'run',
        '--format',
        'ndjson',
        '--keep-order',
        '-c',
        '3',
        '--no-journal',
        '--',
        'echo',
        '{#}',
        '{json}',
        '{a.b|json}',
      ],
      { cwd: tmp.dir, stdin: '{"a":{"b":"x y"}}\n{"a":{"b":2}}\n' },
    );
    expect(ran.code).toBe(0);
    expect(records<{ stdout: string }>(ran.stdout).map((r) => r.stdout)).toEqual([
      '1 {"a":{"b":"x y"}} "x y"\n',
      '2 {"a":{"b":2}} 2\n',
    ]);
    const appended = await sluice(['run', '--no-journal', '--', 'echo', 'item:'], { cwd: tmp.dir, stdin: 'z\n' });
    expect(records<{ stdout: string }>(appended.stdout)[0]?.stdout).toBe('item: z\n');
  });

  it('--shell quotes values for the shell', async () => {
    const ran = await sluice(['run', '--shell', '--no-journal', '--', 'printf', '%s', '{}', '|', 'wc', '-c'], {
      cwd: tmp.dir,
      stdin: "it's $(rm -rf x); `y`\n",
    });
    expect(ran.code).toBe(0);
    expect(records<{ stdout: string }>(ran.stdout)[0]?.stdout.trim()).toBe(String("it's $(rm -rf x); `y`".length));
  });

  it('--keep-order writes results in input order although later items finish first', async () => {
    const ran = await sluice(
      ['run', '--keep-order', '-c', '4', '--no-journal', '--', 'sh', '-c', 'sleep $0; echo $0'],
      {
        cwd: tmp.dir,
        stdin: '0.4\n0.3\n0.2\n0.1\n0\n',
      },
    );
    expect(records<{ line: number }>(ran.stdout).map((r) => r.line)).toEqual([1, 2, 3, 4, 5]);
  });

  it('--dry-run prints what would run and runs nothing', async () => {
    const ran = await sluice(['run', '--dry-run', '--keep-order', '--', 'touch', 'made-{}'], {
      cwd: tmp.dir,
      stdin: 'a\nb\n',
    });
    expect(ran.code).toBe(0);
    expect(ran.stdout).toBe('["touch","made-a"]\n["touch","made-b"]\n');
    const http = await sluice(['run', '--dry-run', '--http', 'POST http://127.0.0.1:9/u/{}', '--body', '{json}'], {
      cwd: tmp.dir,
      stdin: 'a b\n',
    });
    expect(http.stdout).toBe('POST http://127.0.0.1:9/u/a%20b "a b"\n');
  });

  it('a failing program: exit code, stderr and attempts are in the result; exit 1', async () => {
    const ran = await sluice(
      ['run', '--retries', '2', '--backoff', '1ms', '--no-journal', '--', 'sh', '-c', 'echo oops >&2; exit 3'],
      {
        cwd: tmp.dir,
        stdin: 'x\n',
      },
    );
    expect(ran.code).toBe(1);
    expect(records(ran.stdout)[0]).toMatchObject({
      status: 'failed',
      exitCode: 3,
      attempts: 3,
      stderr: 'oops\n',
      error: 'exit code 3',
    });
  });

  it('--timeout ends a program that runs too long (SIGTERM) and says so', async () => {
    const ran = await sluice(['run', '--timeout', '200ms', '--no-journal', '--', 'sleep'], {
      cwd: tmp.dir,
      stdin: '30\n',
    });
    expect(ran.code).toBe(1);
    expect(records(ran.stdout)[0]).toMatchObject({
      status: 'failed',
      signal: 'SIGTERM',
      error: 'timed out after 200 ms',
    });
  });

  it('--max-output caps what a result keeps', async () => {
    const ran = await sluice(['run', '--max-output', '10', '--no-journal', '--', 'seq'], {
      cwd: tmp.dir,
      stdin: '1000\n',
    });
    expect(records(ran.stdout)[0]).toMatchObject({ stdout: '1\n2\n3\n4\n5\n', truncated: true });
  });
});
