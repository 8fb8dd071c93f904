// Run the built `sluice` command as a user would: a child process of the Node
// running the tests (so the Node 22 and 24 runs test the command there too).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));

export interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SluiceOptions {
  readonly cwd: string;
  /** Written to the command's stdin, then closed. */
  readonly stdin?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Start `sluice ...args`; `done` settles when it exits. */
export function startSluice(
  args: readonly string[],
  options: SluiceOptions,
): { child: ChildProcess; done: Promise<Ran>; stderr: (pattern: RegExp) => Promise<void> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  else child.stdin?.end();
  const done = new Promise<Ran>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  /** Resolve once stderr matches `pattern` (the command said something). */
  const waitFor = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(stderr)) return;
        child.stderr?.off('data', check);
        resolve();
      };
      child.stderr?.on('data', check);
      void done.then(() =>
        pattern.test(stderr) ? resolve() : reject(new Error(`exited before ${pattern}: ${stderr}`)),
      );
      check();
    });
  return { child, done, stderr: waitFor };
}

export function sluice(args: readonly string[], options: SluiceOptions): Promise<Ran> {
  return startSluice(args, options).done;
}

/** A scratch directory, removed by the returned function. */
export function scratch(): { dir: string; path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The NDJSON lines of `text`, parsed. */
export function records<T = Record<string, unknown>>(text: string): T[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}
