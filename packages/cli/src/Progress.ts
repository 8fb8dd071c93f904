// Progress on stderr: one line redrawn at most 10 times a second when stderr
// is a terminal, or a JSON line a second (`--progress json`), never control
// characters into a file or pipe.
import type { Histogram } from './Histogram.js';
import { formatDuration } from './units.js';

export type ProgressMode = 'auto' | 'tty' | 'json' | 'none';

/** What the runner exposes to the display and the summary. */
export interface Counts {
  readonly ok: number;
  readonly failed: number;
  readonly invalid: number;
  readonly skipped: number;
  readonly interrupted: number;
  readonly running: number;
  readonly limit: number;
  readonly retries: number;
  readonly pauses: number;
  readonly total: number | undefined;
  readonly latency: Histogram;
}

export class Progress {
  readonly #mode: 'tty' | 'json' | 'none';
  readonly #counts: () => Counts;
  readonly #out: NodeJS.WriteStream;
  readonly #started = Date.now();
  readonly #samples: [number, number][] = [];
  #timer: NodeJS.Timeout | undefined;
  #drawn = false;

  constructor(mode: ProgressMode, counts: () => Counts, out: NodeJS.WriteStream = process.stderr) {
    this.#mode = mode === 'auto' ? (out.isTTY ? 'tty' : 'none') : mode === 'tty' && !out.isTTY ? 'none' : mode;
    this.#counts = counts;
    this.#out = out;
  }

  start(): void {
    if (this.#mode === 'none') return;
    this.#timer = setInterval(() => this.#tick(), this.#mode === 'tty' ? 100 : 1000);
    this.#timer.unref();
  }

  #tick(): void {
    const counts = this.#counts();
    const now = Date.now();
    const ended = counts.ok + counts.failed;
    this.#samples.push([now, ended]);
    while (this.#samples.length > 2 && now - (this.#samples[0] as [number, number])[0] > 5000) this.#samples.shift();
    const [t0, e0] = this.#samples[0] as [number, number];
    const rate = now > t0 ? ((ended - e0) * 1000) / (now - t0) : 0;
    const left =
      counts.total === undefined ? undefined : Math.max(0, counts.total - ended - counts.skipped - counts.invalid);
    const eta = left === undefined || rate === 0 ? undefined : (left * 1000) / rate;
    if (this.#mode === 'json') {
      this.#out.write(
        `${JSON.stringify({
          elapsed: now - this.#started,
          done: ended,
          total: counts.total ?? null,
          ok: counts.ok,
          failed: counts.failed,
          invalid: counts.invalid,
          skipped: counts.skipped,
          running: counts.running,
          limit: counts.limit,
          rate: Math.round(rate * 10) / 10,
          eta: eta === undefined ? null : Math.round(eta),
          p50: round(counts.latency.quantile(0.5)),
          p99: round(counts.latency.quantile(0.99)),
        })}\n`,
      );
      return;
    }
    const total = counts.total === undefined ? '' : `/${counts.total}`;
    const percent = counts.total ? ` ${Math.floor(((ended + counts.skipped) * 100) / counts.total)}%` : '';
    const parts = [
      `${ended}${total}${percent}`,
      `${rate.toFixed(rate < 10 ? 1 : 0)}/s`,
      eta === undefined ? undefined : `ETA ${formatDuration(eta)}`,
      `running ${counts.running} (limit ${counts.limit})`,
      counts.failed > 0 ? `failed ${counts.failed}` : undefined,
      counts.skipped > 0 ? `skipped ${counts.skipped}` : undefined,
      counts.latency.count > 0
        ? `p50 ${formatDuration(counts.latency.quantile(0.5))} p99 ${formatDuration(counts.latency.quantile(0.99))}`
        : undefined,
    ];
    const line = `sluice ${parts.filter((p) => p !== undefined).join('  ')}`;
    const width = this.#out.columns ?? 120;
    this.#out.write(`\r${line.slice(0, width - 1)}\x1b[K`);
    this.#drawn = true;
  }

  /** Stop drawing and clear the line, so the summary starts clean. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#drawn) this.#out.write('\r\x1b[K');
    this.#drawn = false;
  }
}

function round(ms: number): number | null {
  return Number.isNaN(ms) ? null : Math.round(ms * 100) / 100;
}
