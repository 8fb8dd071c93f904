import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scratch, sluice } from './helpers.js';

// Usage errors exit 2 before anything runs, with a message naming the flag and the value.
describe('sluice run: usage errors', () => {
  let tmp: ReturnType<typeof scratch>;
  beforeEach(() => {
    tmp = scratch();
  });
  afterEach(() => tmp.remove());

  const cases: [string[], RegExp][] = [
    [['run', '-c', '0', '--', 'true'], /--concurrency expects a whole number >= 1, got "0"/],
    [['run', '--concurrency', 'lots', '--', 'true'], /--concurrency expects a whole number >= 1, got "lots"/],
    [['run', '--rate', '10/x', '--', 'true'], /--rate expects a rate like 100\/s.*got "10\/x"/],
    [['run', '--key-rate', '5/s', '--', 'true'], /--key-rate and --key-concurrency need --per-key/],
    [['run', '--retries', '-1', '--', 'true'], /--retries expects a whole number >= 0, got "-1"/],
    [['run', '--timeout', 'soon', '--', 'true'], /--timeout expects a duration like 500ms.*got "soon"/],
    [['run', '--timeout', '0', '--', 'true'], /--timeout expects a duration > 0, got "0"/],
    [['run', '--halt', 'later', '--', 'true'], /--halt expects soon,fail=N or now,fail=N%.*got "later"/],
    [['run', '--halt', 'now,fail=120%', '--', 'true'], /--halt expects.*got "now,fail=120%"/],
    [['run', '--http', 'FETCH nowhere'], /--http expects 'METHOD http\(s\):\/\/host\/path', got "FETCH nowhere"/],
    [['run', '--http', 'GET http://x/{id}', '--', 'curl'], /--http sends a request per item; drop the command "curl"/],
    [['run', '--header', 'X: 1', '--', 'true'], /--header and --body need --http/],
    [['run', '--http', 'GET http://x/', '-H', 'nocolon'], /--header expects 'Name: value', got "nocolon"/],
    [['run', '--resume', '--fresh', '--', 'true'], /choose one of --resume, --retry-failed and --fresh/],
    [['run', '--max-output', 'big', '--', 'true'], /--max-output expects a size like 512, 64k or 1m, got "big"/],
    [['run', '-i', 'missing.txt', '--', 'true'], /--input "missing.txt": no such file/],
    [['run', '--', 'echo', '{id}'], /\{id\} reads a field, but the input is read as lines: pass --format ndjson/],
    [['run', '--', 'echo', '{id|base64}'], /unknown encoding in "\{id\|base64\}"/],
    [['run', '--format', 'xml', '--', 'true'], /option '-f, --format <format>' argument 'xml' is invalid/],
    [['run', '--bogus'], /unknown option '--bogus'/],
    [['run'], /sluice run needs a command after `--`/],
  ];
  for (const [args, message] of cases) {
    it(`${args.slice(1).join(' ')} -> exit 2`, async () => {
      const ran = await sluice(args, { cwd: tmp.dir, stdin: 'a\n' });
      expect(ran.stderr).toMatch(message);
      expect(ran.code).toBe(2);
      expect(ran.stdout).toBe('');
    });
  }

  it('--help lists the exit codes and placeholders; --version prints the version', async () => {
    const help = await sluice(['run', '--help'], { cwd: tmp.dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/130\s+interrupted by SIGINT/);
    expect(help.stdout).toMatch(/\{field\}/);
    const version = await sluice(['--version'], { cwd: tmp.dir });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
