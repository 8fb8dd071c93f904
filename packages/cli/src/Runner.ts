/**
 * Long file: the run's one loop (intake with a bounded window, the attempts of
 * each item with retries, pauses and the breaker, results then journal, halt
 * and signals) reads best in one place; parsing, limits, output and the
 * journal live beside it.
 */
import { hash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { type CircuitBreakerPolicy, CircuitOpenError, exponentialBackoff, RetryBudget, Semaphore } from 'sluice';
import type { Action, Attempt, Outcome } from './Action.js';
import { type Halt, halts } from './Halt.js';
import { Histogram } from './Histogram.js';
import type { Item } from './Item.js';
import { type Entry, type Format, isMalformed, readEntries } from './input.js';
import type { Journal } from './Journal.js';
import { type LimitSettings, Limits, type Slot, sleep } from './Limits.js';
import { PauseBegun, type Pauses } from './Pauses.js';
import { type Counts, Progress, type ProgressMode } from './Progress.js';
import type { Failures, Results } from './Results.js';
import { MissingFieldError, type Template } from './template.js';
import { formatDuration } from './units.js';

export interface RunSettings {
  readonly action: Action;
  readonly input: Readable;
  readonly format: Format;
  /** The item key: a template, or undefined for a hash of the item's text. */
  readonly key: Template | undefined;
  /** `--per-key`: the scope of per-key limits and pauses. */
  readonly perKey: Template | undefined;
  /** A scope for an item the per-key template cannot render (e.g. `{host}` from the request URL). */
  readonly fallbackScope?: ((item: Item) => string | undefined) | undefined;
  readonly limits: LimitSettings;
  readonly retries: number;
  readonly backoff: { readonly initial: number; readonly max: number };
  /** Retries allowed as a share of items (at least 10 a second); undefined: no budget. */
  readonly retryBudget: number | undefined;
  readonly timeout: number | undefined;
  readonly breaker: CircuitBreakerPolicy | undefined;
  readonly halt: Halt | undefined;
  readonly results: Results;
  readonly failures: Failures;
  readonly journal: Journal | undefined;
  readonly progress: ProgressMode;
  readonly total: number | Promise<number> | undefined;
  readonly dryRun: boolean;
  /** Ms running items may take to finish after the first SIGINT/SIGTERM. */
  readonly grace: number;
  readonly pauses: Pauses;
  /** Items read ahead of their start, at most (in flight + this buffer is all the input in memory). */
  readonly window: number;
  readonly stderr: NodeJS.WriteStream;
  /** Receive SIGINT/SIGTERM (off in tests that drive `stop` themselves). @default true */
  readonly signals?: boolean;
}

/** Exit codes: see `sluice run --help`. */
export const EXIT = { ok: 0, failed: 1, usage: 2, halted: 3, sigint: 130, sigterm: 143 } as const;

/** What the attempts at one item came to (outcome undefined: stopped before one ended it). */
interface Tally {
  attempts: number;
  /** The last attempt's start, epoch ms. */
  start: number | undefined;
  /** The first attempt's start, performance.now(). */
  first: number | undefined;
  outcome: Outcome | undefined;
}

class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

/** A retryable failure, thrown so the circuit breaker counts it. */
class FailedAttempt extends Error {
  readonly outcome: Outcome;
  constructor(outcome: Outcome) {
    super(outcome.error ?? 'failed');
    this.outcome = outcome;
  }
}

export class Runner {
  readonly #s: RunSettings;
  readonly #limits: Limits;
  readonly #window: Semaphore;
  readonly #intake = new AbortController();
  readonly #now = new AbortController();
  readonly #latency = new Histogram();
  readonly #timeOrigin = performance.timeOrigin;
  readonly #budget: RetryBudget | undefined;
  readonly #backoff: ReturnType<typeof exponentialBackoff>;
  readonly #progress: Progress;
  #total: number | undefined;
  #ok = 0;
  #failed = 0;
  #invalid = 0;
  #skipped = 0;
  #interrupted = 0;
  #running = 0;
  #retries = 0;
  /** Items failed for good, counted when their last attempt ends (--halt). */
  #finalFailures = 0;
  #active = 0;
  #idle: (() => void) | undefined;
  #seq = 0;
  #exit: number = EXIT.ok;
  #why: string | undefined;
  #graceTimer: NodeJS.Timeout | undefined;

  constructor(settings: RunSettings) {
    this.#s = settings;
    // Every waiting item listens to these two; they are the run's, not leaks.
    setMaxListeners(0, this.#intake.signal, this.#now.signal);
    this.#limits = new Limits(settings.limits);
    this.#window = new Semaphore(settings.window);
    this.#budget = settings.retryBudget === undefined ? undefined : new RetryBudget({ ratio: settings.retryBudget });
    this.#backoff = exponentialBackoff({
      initial: settings.backoff.initial,
      max: settings.backoff.max,
      jitter: 'full',
    });
    this.#progress = new Progress(settings.progress, () => this.counts(), settings.stderr);
    if (typeof settings.total === 'number') this.#total = settings.total;
    else settings.total?.then((n) => (this.#total = n)).catch(() => {});
  }

  counts(): Counts {
    return {
      ok: this.#ok,
      failed: this.#failed,
      invalid: this.#invalid,
      skipped: this.#skipped,
      interrupted: this.#interrupted,
      running: this.#running,
      limit: this.#limits.limit,
      retries: this.#retries,
      pauses: this.#s.pauses.count,
      total: this.#total,
      latency: this.#latency,
    };
  }

  /** Run every item; resolves with the exit code once everything is written and journaled. */
  async run(): Promise<number> {
    const started = Date.now();
    const onInt = () => this.stop('SIGINT');
    const onTerm = () => this.stop('SIGTERM');
    if (this.#s.signals !== false) {
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
    }
    this.#progress.start();
    try {
      await this.#intakeAll();
    } catch (error) {
      if (!this.#intake.signal.aborted) {
        this.#s.stderr.write(`sluice: reading the input failed: ${(error as Error).message}\n`);
        this.#fail(EXIT.failed, 'input error');
      }
    }
    await this.#settled();
    clearTimeout(this.#graceTimer);
    this.#progress.stop();
    await this.#s.results.close();
    this.#s.journal?.close();
    await this.#s.failures.close();
    await this.#limits.close();
    await this.#s.action.close();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    if (!this.#s.dryRun) this.#summary(Date.now() - started);
    if (this.#exit === EXIT.ok && (this.#failed > 0 || this.#invalid > 0)) return EXIT.failed;
    return this.#exit;
  }

  /** The output broke (a closed pipe, a full disk): stop, and end what runs; nothing more is journaled. */
  outputFailed(error: Error): void {
    this.#fail(EXIT.failed, `writing results failed: ${error.message}`);
    this.#now.abort(new Interrupted('output failed'));
  }

  /**
   * A signal: the first stops intake and lets running items finish (for
   * `grace` ms at most); the second ends them (children get SIGTERM, then
   * SIGKILL). Unfinished items are not journaled: `--resume` runs them.
   */
  stop(signal: 'SIGINT' | 'SIGTERM'): void {
    if (this.#intake.signal.aborted) {
      this.#now.abort(new Interrupted(`interrupted by a second ${signal}`));
      return;
    }
    this.#fail(signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm, `interrupted by ${signal}`);
    this.#progress.stop();
    this.#s.stderr.write(
      `sluice: ${signal}: starting nothing more; waiting up to ${formatDuration(this.#s.grace)} for ${this.#running} running items (${signal} again ends them)\n`,
    );
    this.#progress.start();
    this.#graceTimer = setTimeout(
      () => this.#now.abort(new Interrupted(`still running ${formatDuration(this.#s.grace)} after ${signal}`)),
      this.#s.grace,
    );
    this.#graceTimer.unref();
  }

  #fail(code: number, why: string): void {
    if (this.#exit === EXIT.ok || code > this.#exit) {
      this.#exit = code;
      this.#why = why;
    }
    this.#intake.abort(new Interrupted(why));
  }

  async #intakeAll(): Promise<void> {
    const signal = this.#intake.signal;
    for await (const batch of readEntries(this.#s.input, this.#s.format)) {
      for (const entry of batch) {
        if (signal.aborted) return;
        const item = this.#admitEntry(entry);
        if (item === undefined) continue;
        let permit: { release(): void } | undefined = this.#window.tryAcquire();
        if (permit === undefined) {
          try {
            permit = await this.#window.acquire({ signal });
          } catch {
            return;
          }
        }
        this.#start(item.item, item.key, this.#seq++, permit);
      }
      if (signal.aborted) return;
    }
  }

  /** An entry that is to run, with its key; malformed, keyless and journaled ones are counted and left. */
  #admitEntry(entry: Entry): { item: Item; key: string } | undefined {
    if (isMalformed(entry)) {
      this.#invalid++;
      this.#s.failures.write({ line: entry.line, status: 'invalid', error: entry.error, input: entry.raw });
      return undefined;
    }
    let key: string;
    if (this.#s.key === undefined) {
      // The default key, checked against the journal before it is cut out of its digest.
      const digest = hash('sha1', entry.raw, 'base64url');
      if (this.#s.journal?.skipsDigest(digest)) {
        this.#skipped++;
        return undefined;
      }
      return { item: entry, key: digest.slice(0, 16) };
    }
    try {
      key = this.#s.key.render(entry);
    } catch (error) {
      this.#invalid++;
      this.#s.failures.write({
        line: entry.line,
        status: 'invalid',
        error: `--key: ${(error as Error).message}`,
        input: entry.raw,
      });
      return undefined;
    }
    if (this.#s.journal?.skips(key)) {
      this.#skipped++;
      return undefined;
    }
    return { item: entry, key };
  }

  #start(item: Item, key: string, seq: number, permit: { release(): void }): void {
    this.#active++;
    void this.#process(item, key, seq, permit);
  }

  #settled(): Promise<void> {
    return this.#active === 0 ? Promise.resolve() : new Promise((resolve) => (this.#idle = resolve));
  }

  /** One item, start to end; never rejects. */
  async #process(item: Item, key: string, seq: number, permit: { release(): void }): Promise<void> {
    try {
      await this.#item(item, key, seq, permit);
    } catch (error) {
      // Nothing in #item is meant to throw; say so loudly rather than lose the item silently.
      this.#s.stderr.write(`sluice: internal error on line ${item.line}: ${(error as Error).stack}\n`);
      this.#fail(EXIT.failed, 'internal error');
      permit.release();
    } finally {
      if (--this.#active === 0) this.#idle?.();
    }
  }

  async #item(item: Item, key: string, seq: number, permit: { release(): void }): Promise<void> {
    const release = () => permit.release();
    if (this.#s.dryRun) {
      let text: string;
      try {
        text = `${this.#s.action.describe(item)}\n`;
      } catch (error) {
        text = `# line ${item.line}: ${(error as Error).message}\n`;
      }
      this.#s.results.put(seq, text, release);
      return;
    }
    const started = performance.now();
    let attempt: Attempt;
    let scope: string | undefined;
    try {
      attempt = this.#s.action.prepare(item);
      scope = this.#scopeOf(item);
    } catch (error) {
      if (!(error instanceof MissingFieldError)) throw error;
      this.#finalFailure();
      this.#end(item, key, seq, release, 0, started, undefined, undefined, error.message);
      return;
    }
    const ended = await this.#attempts(attempt, scope);
    if (ended.outcome === undefined) {
      // Stopped: not journaled, so --resume runs it. Only begun items count as unfinished.
      if (ended.attempts > 0) this.#interrupted++;
      this.#s.results.put(seq, undefined, release);
      return;
    }
    this.#end(item, key, seq, release, ended.attempts, ended.first ?? started, ended.start, ended.outcome);
  }

  #scopeOf(item: Item): string | undefined {
    const template = this.#s.perKey;
    if (template === undefined) return undefined;
    try {
      return template.render(item);
    } catch (error) {
      const fallback = error instanceof MissingFieldError ? this.#s.fallbackScope?.(item) : undefined;
      if (fallback === undefined) throw error;
      return fallback;
    }
  }

  /** Attempts until one succeeds, the failure is final, or the run stops (outcome undefined). */
  async #attempts(attempt: Attempt, scope: string | undefined): Promise<Tally> {
    const intake = this.#intake.signal;
    const pauses = this.#s.pauses;
    const tally: Tally = { attempts: 0, start: undefined, first: undefined, outcome: undefined };
    for (;;) {
      let outcome: Outcome | 'open' | 'paused' | 'ended';
      try {
        if (pauses.remaining(scope) > 0) await pauses.wait(scope, intake);
        // A grant of a rate shared through Redis is spent when given: a pause that
        // begins meanwhile sends the wait back to the pause instead.
        const slot =
          this.#limits.tryAcquire(scope) ??
          (await this.#limits.acquire(
            scope,
            this.#limits.sharesRate ? AbortSignal.any([intake, pauses.begun]) : intake,
          ));
        outcome = await this.#startWhenAdmitted(attempt, scope, slot, tally);
      } catch (error) {
        if (error instanceof Interrupted || intake.aborted) return tally;
        if (error instanceof PauseBegun) continue;
        throw error;
      }
      if (outcome === 'paused') continue;
      if (outcome === 'ended') return tally;
      if (outcome === 'open') {
        await this.#waitForBreaker(intake).catch(() => {});
        if (intake.aborted) return tally;
        continue;
      }
      if (outcome.ok || !outcome.retryable || tally.attempts > this.#s.retries) {
        if (outcome.pause && outcome.retryAfter !== undefined) pauses.pause(scope, outcome.retryAfter);
        tally.outcome = outcome;
        return tally;
      }
      if (outcome.pause && outcome.retryAfter !== undefined) pauses.pause(scope, outcome.retryAfter);
      if (this.#budget !== undefined && !this.#budget.tryRetry()) {
        this.#finalFailure();
        tally.outcome = { ...outcome, error: `${outcome.error} (retry budget spent)` };
        return tally;
      }
      this.#retries++;
      const delay = Math.max(
        this.#backoff({ attempt: tally.attempts, previousDelay: 0, random: Math.random }),
        outcome.retryAfter ?? 0,
      );
      try {
        await sleep(delay, intake);
      } catch {
        return tally;
      }
    }
  }

  /**
   * Holding the slot, start the attempt in the same synchronous step as its
   * local rates admit it. Refused by a rate (or paused), the slot goes back
   * unmeasured while the item waits, and 'paused' sends it to queue again:
   * a concurrency slot, and an adaptive limit's latency, cover the attempt
   * alone, never a wait for a rate.
   */
  async #startWhenAdmitted(
    attempt: Attempt,
    scope: string | undefined,
    slot: Slot,
    tally: Tally,
  ): Promise<Outcome | 'open' | 'paused' | 'ended'> {
    if (this.#intake.signal.aborted) {
      slot.release('ignore');
      throw new Interrupted('stopped');
    }
    if (this.#s.pauses.remaining(scope) > 0) {
      slot.release('ignore');
      return 'paused';
    }
    const at = performance.now();
    const wait = this.#limits.startNow(scope, at);
    if (wait > 0) {
      slot.release('ignore');
      this.#limits.rateWaits++;
      try {
        await sleep(wait, this.#intake.signal);
      } finally {
        this.#limits.rateWaits--;
      }
      return 'paused';
    }
    let outcome: Outcome | 'open';
    try {
      outcome =
        this.#s.breaker === undefined && this.#s.timeout === undefined
          ? await this.#attempt(attempt, tally, at, this.#now.signal, true)
          : await this.#guarded(attempt, tally, at);
    } catch (error) {
      slot.release('ignore');
      throw error;
    }
    if (outcome === 'open') {
      slot.release('ignore');
      return outcome;
    }
    if (!outcome.ok) {
      // Ended by the run (halt now, a second signal) rather than failed on its own: unfinished.
      if (this.#now.signal.aborted) {
        slot.release('ignore');
        return 'ended';
      }
      // A failure that halts the run does so before its slot is free for the next item.
      if (!outcome.retryable || tally.attempts > this.#s.retries) this.#finalFailure();
    }
    slot.release(outcome.ok ? 'ok' : outcome.overload ? 'drop' : 'ignore');
    return outcome;
  }

  /** One attempt begun at `at` (performance.now()): counted, timed, `running` while it runs. */
  async #attempt(attempt: Attempt, tally: Tally, at: number, signal: AbortSignal, shared: boolean): Promise<Outcome> {
    if (++tally.attempts === 1) tally.first = at;
    // Epoch ms on the monotonic clock the limits use (Date.now() can step).
    tally.start = Math.round((this.#timeOrigin + at) * 100) / 100;
    // The budget earns retries per item, not per attempt (retries must not earn more retries).
    if (tally.attempts === 1) this.#budget?.recordCall();
    this.#running++;
    try {
      const outcome = await attempt(signal, shared);
      this.#latency.record(performance.now() - at);
      return outcome;
    } finally {
      this.#running--;
    }
  }

  /** One attempt through the breaker, with its timeout; 'open' when the breaker refused it. */
  async #guarded(attempt: Attempt, tally: Tally, at: number): Promise<Outcome | 'open'> {
    const now = this.#now.signal;
    const timeout = this.#s.timeout;
    // Without a timeout the run's own signal ends an attempt: no controller or listener per attempt.
    let signal = now;
    let controller: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    const end = () => controller?.abort(now.reason);
    if (timeout !== undefined) {
      controller = new AbortController();
      signal = controller.signal;
      if (now.aborted) end();
      else now.addEventListener('abort', end, { once: true });
      timer = setTimeout(() => controller?.abort(new Error(`timed out after ${formatDuration(timeout)}`)), timeout);
    }
    const run = async () => {
      const outcome = await this.#attempt(attempt, tally, at, signal, controller === undefined);
      // Thrown, so the breaker counts it.
      if (!outcome.ok && outcome.retryable) throw new FailedAttempt(outcome);
      return outcome;
    };
    try {
      return this.#s.breaker === undefined ? await run() : await this.#s.breaker.execute(run);
    } catch (error) {
      if (error instanceof FailedAttempt) return error.outcome;
      if (error instanceof CircuitOpenError) return 'open';
      throw error;
    } finally {
      if (controller !== undefined) {
        clearTimeout(timer);
        now.removeEventListener('abort', end);
      }
    }
  }

  async #waitForBreaker(signal: AbortSignal): Promise<void> {
    const breaker = this.#s.breaker as CircuitBreakerPolicy;
    const { state, openFor } = breaker.snapshot();
    // Half-open: the probes are out; look again shortly.
    await sleep(state === 'open' ? Math.max(50, openFor) : 50, signal);
  }

  /** `started`: the first attempt's start (the item's duration covers its attempts and the waits between them). */
  #end(
    item: Item,
    key: string,
    seq: number,
    release: () => void,
    attempts: number,
    started: number,
    /** The last attempt's start, epoch ms (undefined: never begun). */
    start: number | undefined,
    outcome: Outcome | undefined,
    reason?: string,
  ): void {
    const ok = outcome?.ok === true;
    const duration = Math.round((performance.now() - started) * 100) / 100;
    const error = ok ? undefined : (reason ?? outcome?.error);
    const line = resultLine(key, item, attempts, start, duration, outcome, error);
    if (ok) this.#ok++;
    else {
      this.#failed++;
      // The failure's record is its result with the input line last.
      this.#s.failures.writeLine(`${line.slice(0, -1)},"input":${JSON.stringify(item.raw)}}`);
    }
    this.#s.results.put(seq, `${line}\n`, (written) => {
      // Journaled only once its result is out: a crash may run an item twice, never lose it.
      if (written) this.#s.journal?.record(key, ok);
      release();
    });
  }

  /** An item failed for good: count it toward --halt (before anything else may start). */
  #finalFailure(): void {
    this.#finalFailures++;
    const halt = this.#s.halt;
    if (halt === undefined || this.#intake.signal.aborted) return;
    if (!halts(halt, this.#finalFailures, this.#ok + this.#finalFailures)) return;
    this.#fail(
      EXIT.halted,
      `halted: ${this.#finalFailures} failed (--halt ${halt.when},fail=${halt.fail}${halt.percent ? '%' : ''})`,
    );
    if (halt.when === 'now') this.#now.abort(new Interrupted('halted'));
  }

  #summary(elapsed: number): void {
    const ended = this.#ok + this.#failed;
    const rate = elapsed > 0 ? Math.round((ended * 1000) / elapsed) : 0;
    const latency =
      this.#latency.count === 0
        ? ''
        : `; latency p50 ${formatDuration(this.#latency.quantile(0.5))}, p99 ${formatDuration(this.#latency.quantile(0.99))}`;
    const lines = [
      `sluice: ${ended} items in ${formatDuration(elapsed)} (${rate}/s): ${this.#ok} ok, ${this.#failed} failed, ${this.#invalid} invalid, ${this.#skipped} skipped; ${this.#retries} retries, ${this.#s.pauses.count} pauses${latency}`,
    ];
    if (this.#s.failures.count > 0) lines.push(`sluice: failures in ${this.#s.failures.path}`);
    if (this.#why !== undefined) {
      const left = this.#interrupted > 0 ? `; ${this.#interrupted} items left unfinished` : '';
      const resume = this.#s.journal === undefined ? '' : ' (run again with --resume to finish)';
      lines.push(`sluice: ${this.#why}${left}${resume}`);
    }
    this.#s.stderr.write(`${lines.join('\n')}\n`);
  }
}

/**
 * The default item key: the first 96 bits of the SHA-1 of its text, base64url
 * (16 characters: 10,000,000 items collide with odds of about 1 in 10^15;
 * shorter keys make the journal smaller and a resume's lookups faster).
 */
export function keyOf(text: string): string {
  return hash('sha1', text, 'base64url').slice(0, 16);
}

/**
 * An item's result as one JSON object (no newline), fields in this order:
 * key, line, status, attempts, start (when begun), duration, then httpStatus
 * and body or exitCode and stdout, signal, stderr, truncated, error. Written
 * out field by field: one string per item rather than an object and its
 * serialization.
 */
function resultLine(
  key: string,
  item: Item,
  attempts: number,
  start: number | undefined,
  duration: number,
  outcome: Outcome | undefined,
  error: string | undefined,
): string {
  let line = `{"key":${JSON.stringify(key)},"line":${item.line},"status":"${outcome?.ok === true ? 'ok' : 'failed'}","attempts":${attempts}`;
  if (start) line += `,"start":${start}`;
  line += `,"duration":${duration}`;
  if (outcome !== undefined) {
    if (outcome.httpStatus !== undefined)
      line += `,"httpStatus":${outcome.httpStatus},"body":${JSON.stringify(outcome.output)}`;
    else if (outcome.exitCode !== undefined)
      line += `,"exitCode":${JSON.stringify(outcome.exitCode)},"stdout":${JSON.stringify(outcome.output)}`;
    if (outcome.signal) line += `,"signal":${JSON.stringify(outcome.signal)}`;
    if (outcome.stderr) line += `,"stderr":${JSON.stringify(outcome.stderr)}`;
    if (outcome.truncated) line += ',"truncated":true';
  }
  if (error !== undefined) line += `,"error":${JSON.stringify(error)}`;
  return `${line}}`;
}
