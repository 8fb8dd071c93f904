/**
 * The README's quick start runs as it is, against the built package (it
 * imports 'sluice' by name), and type-checks under `--strict`; every other
 * TypeScript block of the README and of docs/ type-checks too, each as a
 * module, with the reader's own code (`db`, `fetchUser`, ...) declared in
 * test/fixtures/docs-ambient.d.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** `tsc --noEmit --strict` as a consumer's project would run it (nodenext, es2022), on `files`. */
function typecheck(files: string[], cwd: string, extra: string[] = []) {
  const tsc = new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname;
  const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];
  return spawnSync(process.execPath, [tsc, ...args, ...extra, ...files], { encoding: 'utf8', cwd, timeout: 120_000 });
}

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
    const check = typecheck([file], dir);
    expect(check.stdout).toBe('');
  });

  it('every TypeScript block of README.md and docs/ type-checks under --strict', () => {
    const root = new URL('..', import.meta.url).pathname;
    const sources = [
      'README.md',
      ...readdirSync(`${root}docs`, { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const dir = `${root}node_modules/.cache/sluice-docs/`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const files: string[] = [];
    for (const source of sources) {
      const text = readFileSync(`${root}${source}`, 'utf8');
      for (const match of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
        const line = text.slice(0, match.index).split('\n').length + 1;
        const file = `${dir}${source.replaceAll('/', '__')}__L${line}.mts`;
        writeFileSync(file, match[1] as string);
        files.push(file);
      }
    }
    expect(files.length).toBeGreaterThan(30);
    const check = typecheck([`${root}test/fixtures/docs-ambient.d.ts`, ...files], dir, [
      '--skipLibCheck',
      '--types',
      'node',
    ]);
    // Errors name the source and the line its block starts at: README.md__L157.mts(3,5): ...
    expect(check.stdout.replaceAll(dir, '')).toBe('');
    expect(check.status).toBe(0);
  }, 120_000);
});
