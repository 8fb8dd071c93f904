/**
 * The README's quick start runs as it is, against the built package (it
 * imports 'sluice' by name), and type-checks under `--strict`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('the quick start runs and type-checks', () => {
    const block = /<!-- quick-start -->\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const dir = new URL('../node_modules/.cache/sluice-readme/', import.meta.url).pathname;
    mkdirSync(dir, { recursive: true });
    const file = `${dir}quick-start.mts`;
    writeFileSync(file, block as string);
    const run = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('5 users, at most 10 fetched at once');
    const tsc = new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname;
    const check = spawnSync(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        file,
      ],
      { encoding: 'utf8', cwd: dir },
    );
    expect(check.stdout).toBe('');
  });
});
