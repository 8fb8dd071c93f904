// Shared by the benchmark scripts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Write `lines` into bench/RESULTS.md (RESULTS.quick.md with --quick) between
 * `<!-- name:start -->` and `<!-- name:end -->`, replacing what was there, or
 * appended the first time. The other sections are left as they are.
 */
export function writeSection(name: string, lines: string[], quick: boolean): string {
  const out = new URL(quick ? './RESULTS.quick.md' : './RESULTS.md', import.meta.url);
  const section = [`<!-- ${name}:start -->`, ...lines, `<!-- ${name}:end -->`].join('\n');
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const marked = new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`);
  const next = marked.test(previous) ? previous.replace(marked, section) : `${previous.trimEnd()}\n\n${section}\n`;
  writeFileSync(out, next);
  return section;
}
