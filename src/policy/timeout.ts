import { type Clock, systemClock } from '../core/clock.js';
import { Deque } from '../core/Deque.js';
import { Emitter } from '../core/Emitter.js';
import { TimeoutError } from '../core/errors.js';
import { checkFunction, checkMs, show } from '../core/validate.js';
import { type ExecuteOptions, invoke, type Policy, type PolicyContext, type Work } from './Policy.js';

/** Options of {@link timeout}. */
export interface TimeoutOptions {
  /**
   * `'cooperative'`: at the deadline the work's signal aborts and the call
   * waits for the work to stop, then rejects with `TimeoutError` (nothing
   * keeps running behind the caller's back). `'aggressive'`: the call rejects
   * at the deadline; the work's signal aborts too, but the work is not awaited.
   * @default 'cooperative'
   */
  readonly mode?: 'cooperative' | 'aggressive';
  /** @default systemClock */
  readonly clock?: Clock;
}

export interface TimeoutEvents extends Record<string, unknown> {
  timeout: { readonly ms: number };
}

export interface TimeoutStats {
  readonly calls: number;
  readonly timedOut: number;
}

/**
 * The context a timed call's work receives. Its `signal` is created on first
 * use: an `AbortSignal` costs far more than everything else a timeout does,
 * and work that never looks at it should not pay for it. Internal.
 */
class DeadlineContext implements PolicyContext {
  readonly attempt: number;
  deadline: number;
  done = false;
  expired: TimeoutError | undefined = undefined;
  onExpire: (() => void) | undefined = undefined;
  #controller: AbortController | undefined = undefined;
  #parentSignal: AbortSignal | undefined = undefined;
  #onParentAbort: (() => void) | undefined = undefined;

  constructor(
    readonly parent: ExecuteOptions | undefined,
    deadline: number,
  ) {
    this.attempt = parent?.attempt ?? 1;
    this.deadline = deadline;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const parent = this.parent?.signal;
      if (this.expired !== undefined) controller.abort(this.expired);
      else if (parent?.aborted) controller.abort(parent.reason);
      else if (parent !== undefined && !this.done) {
        this.#parentSignal = parent;
        this.#onParentAbort = () => controller.abort(parent.reason);
        parent.addEventListener('abort', this.#onParentAbort, { once: true });
      }
    }
    return this.#controller.signal;
  }

  expire(error: TimeoutError): void {
    this.expired = error;
    this.#controller?.abort(error);
    this.onExpire?.();
  }

  /** The call is over: let go of the caller's signal. */
  finish(): void {
    this.done = true;
    if (this.#onParentAbort !== undefined) {
      (this.#parentSignal as AbortSignal).removeEventListener('abort', this.#onParentAbort);
      this.#onParentAbort = undefined;
    }
  }
}

/**
 * A deadline per call. Each call gets its own signal (derived from the
 * caller's), so one call timing out aborts that call's work and no other.
 *
 * One timer per policy, not per call: every call of a policy has the same
 * `ms`, so deadlines come in the order calls start; the timer waits for the
 * oldest call still running, and a call that finishes is only marked. While
 * no call runs, that timer (if still armed) does not keep the process alive,
 * and it is not armed again once it fires.
 */
export class TimeoutPolicy extends Emitter<TimeoutEvents> implements Policy {
  readonly ms: number;
  readonly #aggressive: boolean;
  readonly #clock: Clock;
  readonly #running = new Deque<DeadlineContext>();
  #live = 0;
  #timer: unknown = undefined;
  #calls = 0;
  #timedOut = 0;

  constructor(ms: number, options: TimeoutOptions = {}) {
    super();
    this.ms = checkMs('ms', ms);
    const mode = options.mode ?? 'cooperative';
    if (mode !== 'cooperative' && mode !== 'aggressive') {
      throw new TypeError(`Expected \`mode\` to be 'cooperative' or 'aggressive', got ${show(mode)}`);
    }
    this.#aggressive = mode === 'aggressive';
    this.#clock = options.clock ?? systemClock;
  }

  stats(): TimeoutStats {
    return { calls: this.#calls, timedOut: this.#timedOut };
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    checkFunction('fn', fn);
    this.#calls++;
    const started = this.#clock.now();
    const context = new DeadlineContext(options, started + this.ms);
    if (this.ms !== Number.POSITIVE_INFINITY) this.#track(context);
    const work = invoke(fn, context);
    if (this.#aggressive) {
      return new Promise<T>((resolve, reject) => {
        context.onExpire = () => reject(context.expired);
        work.then(
          (value) => {
            this.#untrack(context);
            resolve(value);
          },
          (error: unknown) => {
            this.#untrack(context);
            reject(error);
          },
        );
      });
    }
    return work.then(
      (value) => {
        this.#untrack(context);
        if (context.expired !== undefined) throw this.#late(context.expired, started);
        return value;
      },
      (error: unknown) => {
        this.#untrack(context);
        // The caller's own abort wins over a deadline that had nothing to do with it.
        if (context.expired === undefined || options?.signal?.aborted) throw error;
        throw this.#late(context.expired, started, error);
      },
    );
  }

  #track(context: DeadlineContext): void {
    this.#running.push(context);
    if (this.#live++ === 0 && this.#timer !== undefined) setRef(this.#timer, true);
    if (this.#timer === undefined) this.#arm(context.deadline);
  }

  #untrack(context: DeadlineContext): void {
    context.finish();
    if (context.expired !== undefined || this.ms === Number.POSITIVE_INFINITY) return;
    // Finished calls leave from the front at once (most finish in the order
    // they started), so the queue holds about the calls in flight, not every
    // call of the last `ms`.
    const running = this.#running;
    while (running.length > 0 && (running.peek() as DeadlineContext).done) running.shift();
    // Idle: the timer stays armed (calls one after another would otherwise
    // set and clear one each) but no longer keeps the process alive; when it
    // fires with nothing to time, it is not armed again.
    if (--this.#live === 0) setRef(this.#timer, false);
  }

  #arm(at: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#expire(), Math.max(0, at - this.#clock.now()));
  }

  #expire(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    const running = this.#running;
    let head = running.peek();
    while (head !== undefined && (head.done || head.deadline <= now)) {
      running.shift();
      if (!head.done) {
        this.#live--;
        this.#timedOut++;
        this.notify('timeout', { ms: this.ms });
        head.expire(new TimeoutError(`Timed out after ${this.ms} ms`));
      }
      head = running.peek();
    }
    if (head !== undefined) this.#arm(head.deadline);
    else running.clear();
  }

  /** The cooperative outcome: the deadline passed, and the work stopped this much later. */
  #late(deadline: TimeoutError, started: number, cause?: unknown): TimeoutError {
    const elapsed = Math.round(this.#clock.now() - started);
    if (elapsed <= this.ms) return deadline;
    return new TimeoutError(`Timed out after ${this.ms} ms (the work stopped after ${elapsed} ms)`, { cause });
  }
}

/** Whether a timer handle keeps the process alive (Node timers and fake timers have ref/unref). */
function setRef(handle: unknown, keepAlive: boolean): void {
  const timer = handle as { ref?: () => void; unref?: () => void } | undefined;
  if (keepAlive) timer?.ref?.();
  else timer?.unref?.();
}

/** A deadline per call: `timeout(5000)` or `timeout(5000, { mode: 'aggressive' })`. */
export function timeout(ms: number, options?: TimeoutOptions): TimeoutPolicy {
  return new TimeoutPolicy(ms, options);
}
