import { constants } from 'node:os';
import { type Clock, systemClock } from '../core/clock.js';
import { checkFunction, checkMs, checkRenamed, show } from '../core/validate.js';

/**
 * What `Shutdown` stops: any sluice part as it is (every one has the
 * `Lifecycle`), or anything else with a `close()` (an HTTP server, a
 * database client), with `destroy()` when it has one.
 */
export interface Stoppable {
  close(): unknown;
  destroy?(): unknown;
}

/** Options of {@link Shutdown}. */
export interface ShutdownOptions {
  /** Total time for every phase to close gracefully; then what is left is destroyed. @default 10000 */
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

interface Registered {
  readonly name: string;
  readonly part: Stoppable;
  readonly phase: number;
}

/**
 * Graceful shutdown: on SIGTERM/SIGINT (or `run()`), close the registered
 * parts phase by phase (lower phases first, e.g. the HTTP server, then queues,
 * then pools; parts of one phase in parallel), each `close()` stopping
 * admission and waiting for in-flight work, all within one deadline; what is
 * still open at the deadline is destroyed. Resolves with a report.
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

  /** Close `part` during shutdown, in `phase` (lower first). @returns this */
  register(name: string, part: Stoppable, options: { readonly phase?: number } = {}): this {
    if (typeof name !== 'string') throw new TypeError(`Expected \`name\` to be a string, got ${show(name)}`);
    checkFunction('part.close', part?.close);
    const phase = options.phase ?? 0;
    if (!Number.isFinite(phase)) throw new RangeError(`Expected \`phase\` to be a finite number, got ${show(phase)}`);
    this.#parts.push({ name, part, phase });
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
    for (const phase of phases) {
      const parts = this.#parts.filter((p) => p.phase === phase);
      const remaining = Math.max(0, deadline - this.#clock.now());
      const results = await Promise.all(parts.map((registered) => this.#close(registered, remaining)));
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
      const outcome = await Promise.race([Promise.resolve(part.close()).then(() => 'closed' as const), late]);
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
