/**
 * The shape of the source, checked: parts meet only through core, core knows
 * none of its clients, retired names stay retired, files and functions stay
 * small enough to read. These read the source files themselves.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = new URL('../src/', import.meta.url).pathname;

function sources(dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const files = sources().map((path) => ({ path: relative(root, path), text: readFileSync(path, 'utf8') }));
/** The part a file belongs to: its folder under src/ (`.` for the package's root index). */
const partOf = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : '.');

/** Every part may use core; this is the one other arrow (the Redis limiter evaluates the in-process rules). */
const ALLOWED: Record<string, readonly string[]> = { redis: ['rate'] };

describe('structure', () => {
  it('a part imports no other part except through core (redis -> rate is the one exception)', () => {
    const crossings: string[] = [];
    for (const { path, text } of files) {
      const part = partOf(path);
      if (part === '.') continue; // the package's index re-exports every part
      for (const match of text.matchAll(/from '\.\.\/([a-z-]+)\//g)) {
        const target = match[1] as string;
        if (target === 'core' || target === part || ALLOWED[part]?.includes(target)) continue;
        crossings.push(`${path} -> ${target}`);
      }
    }
    expect(crossings).toEqual([]);
  });

  it('no file in core mentions Redis, circuits, workers, p-limit or p-queue', () => {
    const mentions: string[] = [];
    for (const { path, text } of files) {
      if (partOf(path) !== 'core') continue;
      for (const word of ['redis', 'circuit', 'worker', 'p-limit', 'p-queue', 'plimit', 'pqueue']) {
        if (text.toLowerCase().includes(word)) mentions.push(`${path}: ${word}`);
      }
    }
    expect(mentions).toEqual([]);
  });

  it('no retired name is used outside the drop-ins (a rename table that names it for the error message excepted)', () => {
    // docs/vocabulary.md lists each with its replacement.
    const retired = [
      'maxPending',
      'maxQueue',
      'maxSize',
      'activeCount',
      'pendingCount',
      'clearQueue',
      'rejectOnClear',
      'inflight',
      'leaseMs',
      'waitTtlMs',
      'ttlMs',
      'maxWaitMs',
      'timeoutMs',
      'openMs',
      'slowCallMs',
      'windowMs',
      'thresholdMs',
      'probeIntervalMs',
      'maxQueueWaitMs',
      'serviceTimeMs',
      'latencyMs',
      'retryAfterMs',
      'resetMs',
      'heldMs',
      'p99Ms',
      'maxMs',
      'retryOn',
      'retryOnResult',
      'isDrop',
      'isRejection',
      'maxBatchSize',
    ];
    // Words that are also plain English in comments: retired as names only.
    const retiredFields = [/\btimeouts:/, /\.timeouts\b/, /\bacquired:/, /\bborrowed:/];
    const found: string[] = [];
    for (const { path, text } of files) {
      if (partOf(path) === 'compat') continue;
      text.split('\n').forEach((line, i) => {
        if (line.includes('checkRenamed(') || line.includes('checkRemoved(')) return;
        for (const name of retired) {
          if (new RegExp(`\\b${name}\\b`).test(line)) found.push(`${path}:${i + 1}: ${name}`);
        }
        for (const field of retiredFields) if (field.test(line)) found.push(`${path}:${i + 1}: ${field.source}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('no file over 400 lines without a reason at its top; no function over 80 lines', () => {
    const long: string[] = [];
    for (const { path, text } of files) {
      const lines = text.split('\n').length;
      // A long file says why in its first comment: a line starting " * Long file:".
      if (lines > 400 && !/^ \* Long file: /m.test(text.slice(0, 2000))) long.push(`${path}: ${lines} lines`);
      const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
          const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
          const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
          if (end - start + 1 > 80) {
            const name = (node as ts.FunctionLikeDeclaration).name?.getText(source) ?? '(anonymous)';
            long.push(`${path}:${start + 1}: ${name} is ${end - start + 1} lines`);
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(long).toEqual([]);
  });
});
