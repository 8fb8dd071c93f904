import { constants } from 'node:os';
import { type Clock, systemClock } from '../core/clock.js';
import { checkFunction, checkMs, checkRenamed, show } from '../core/validate.js';
import { isServer, ServerPhase } from './ServerPhase.js';

/**
 * What `Shutdown` stops: any sluice part as it is (every one has the
 * `Lifecycle`), a Node server (`net`, `http`, `https`, `http2`: see
 * `register`), or anything else whose `close()` returns a promise or nothing
 * (a database client), with `destroy()` when it has one.
 */
export interface Stoppable {
  close(): unknown;
  destroy?(): unknown;
}

/** Options of {@link Shutdown}. */
export interface ShutdownOptions {
  /**
   * Total time for every phase to close gracefully. Each phase may take its
   * share of what is left when it starts (what is left ÷ the phases still to
   * run), so a slow phase cannot starve the next ones; a phase done early
   * leaves its time to them. What is still open at its phase's deadline is
   * destroyed. @default 10000
   */
  readonly gracePeriod?: number;
  /** Start on these process signals (e.g. `['SIGTERM', 'SIGINT']`). @default none */
  readonly signals?: readonly NodeJS.Signals[];
  /** @default systemClock */
  readonly clock?: Clock;
}

export interface ShutdownStep {
  readonly name: string;
  readonly phase: number;
  readonly outcome: 'closed' | 'destroyed' | 'failed';
  readonly ms: number;
  readonly error?: unknown;
}

export interface ShutdownReport {
  readonly reason: unknown;
  readonly ms: number;
  /** True when everything closed within the deadline. */
  readonly graceful: boolean;
  readonly steps: readonly ShutdownStep[];
}

/** Options of {@link Shutdown.register}. */
export interface ShutdownRegisterOptions {
  /** Lower phases close first. @default 0 */
  readonly phase?: number;
  /** This part's own deadline to close (ms), instead of its phase's share of the grace period (never past the grace period). */
  readonly timeout?: number;
}

interface Registered {
  readonly name: string;
  readonly part: Stoppable;
  readonly phase: number;
  readonly timeout: number | undefined;
}

/**
 * Graceful shutdown: on SIGTERM/SIGINT (or `run()`), close the registered
 * parts phase by phase (lower phases first, e.g. the HTTP server, then queues,
 * then pools; parts of one phase in parallel), each `close()` stopping
 * admission and waiting for in-flight work, each phase within its share of
 * the grace period; what is still open at its deadline is destroyed, and the
 * next phase still gets its graceful attempt. Resolves with a report.
 */
export class Shutdown {
  readonly #gracePeriod: number;
  readonly #clock: Clock;
  readonly #parts: Registered[] = [];
  readonly #controller = new AbortController();
  readonly #signals: readonly NodeJS.Signals[];
  readonly #onSignal: (signal: NodeJS.Signals) => void;
  #running: Promise<ShutdownReport> | undefined = undefined;

  constructor(options: ShutdownOptions = {}) {
    checkRenamed(options, { timeoutMs: 'gracePeriod' });
    this.#gracePeriod = checkMs('gracePeriod', options.gracePeriod ?? 10_000);
    this.#clock = options.clock ?? systemClock;
    const signals = options.signals ?? [];
    if (!Array.isArray(signals)) {
      throw new TypeError(`Expected \`signals\` to be an array of signal names, got ${show(signals)}`);
    }
    signals.forEach((signal, i) => {
      if (typeof signal !== 'string' || !(signal in constants.signals)) {
        throw new TypeError(`Expected \`signals[${i}]\` to be a signal name such as 'SIGTERM', got ${show(signal)}`);
      }
    });
    this.#signals = signals;
    this.#onSignal = (signal) => {
      void this.run(signal);
    };
    for (const signal of this.#signals) process.once(signal, this.#onSignal);
  }

  /** Aborts when shutdown starts: hand it to loops, task groups and requests. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * Close `part` during shutdown, in `phase` (lower first). A Node server
   * (`net`, `http`, `https`, `http2`) gets the server phase, watched from
   * here on: stop accepting, `Connection: close` on the responses still in
   * flight (GOAWAY on HTTP/2), idle keep-alive connections closed at once and
   * busy ones as their response ends; at the deadline every connection is
   * closed. (Its own `close()` returns the server, not a promise: taken as
   * it is, the phase would end at once while requests still run.)
   * @returns this
   */
  register(name: string, part: Stoppable, options: ShutdownRegisterOptions = {}): this {
    if (typeof name !== 'string') throw new TypeError(`Expected \`name\` to be a string, got ${show(name)}`);
    checkFunction('part.close', part?.close);
    const phase = options.phase ?? 0;
    if (!Number.isFinite(phase)) throw new RangeError(`Expected \`phase\` to be a finite number, got ${show(phase)}`);
    const timeout = options.timeout === undefined ? undefined : checkMs('timeout', options.timeout);
    this.#parts.push({ name, part: isServer(part) ? new ServerPhase(part) : part, phase, timeout });
    return this;
  }

  /** Start shutting down (once; later calls get the same report). */
  run(reason: unknown = 'shutdown'): Promise<ShutdownReport> {
    this.#running ??= this.#shutdown(reason);
    return this.#running;
  }

  /** Stop listening for process signals. */
  dispose(): void {
    for (const signal of this.#signals) process.removeListener(signal, this.#onSignal);
  }

  async #shutdown(reason: unknown): Promise<ShutdownReport> {
    this.dispose();
    this.#controller.abort(reason);
    const started = this.#clock.now();
    const deadline = started + this.#gracePeriod;
    const steps: ShutdownStep[] = [];
    const phases = [...new Set(this.#parts.map((p) => p.phase))].sort((a, b) => a - b);
    for (const [i, phase] of phases.entries()) {
      const parts = this.#parts.filter((p) => p.phase === phase);
      const remaining = Math.max(0, deadline - this.#clock.now());
      const share = remaining / (phases.length - i);
      const results = await Promise.all(
        parts.map((registered) => this.#close(registered, Math.min(remaining, registered.timeout ?? share))),
      );
      steps.push(...results);
    }
    return {
      reason,
      ms: this.#clock.now() - started,
      graceful: steps.every((s) => s.outcome === 'closed'),
      steps,
    };
  }

  async #close({ name, part, phase }: Registered, budget: number): Promise<ShutdownStep> {
    const start = this.#clock.now();
    if (budget <= 0) {
      // The deadline has passed: no time to close gracefully.
      try {
        await part.destroy?.();
        return { name, phase, outcome: 'destroyed', ms: 0 };
      } catch (error) {
        return { name, phase, outcome: 'failed', ms: 0, error };
      }
    }
    let timer: unknown;
    const late = new Promise<'late'>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve('late'), budget);
    });
    try {
      const closing = part.close();
      if (closing !== undefined && typeof (closing as PromiseLike<unknown>)?.then !== 'function') {
        throw new TypeError(
          `\`${name}\`.close() returned ${show(closing)}, not a promise: its phase cannot know when it is closed (wrap it: { close: () => new Promise(...) })`,
        );
      }
      const outcome = await Promise.race([Promise.resolve(closing).then(() => 'closed' as const), late]);
      if (outcome === 'closed') return { name, phase, outcome, ms: this.#clock.now() - start };
      await part.destroy?.();
      return { name, phase, outcome: 'destroyed', ms: this.#clock.now() - start };
    } catch (error) {
      try {
        await part.destroy?.();
      } catch {
        // already failing
      }
      return { name, phase, outcome: 'failed', ms: this.#clock.now() - start, error };
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }
}
