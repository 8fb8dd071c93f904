import { channel } from 'node:diagnostics_channel';
import type { Clock } from './clock.js';

/**
 * The diagnostics channel every limiter publishes its admissions on (as
 * undici and pg publish theirs): `diagnostics_channel.subscribe(ADMISSION_CHANNEL,
 * (message) => ...)`. Nothing is measured or built while nobody listens.
 */
export const ADMISSION_CHANNEL = 'sluice:admission';

/** Why a call was refused or left the queue. */
export type RejectReason =
  | 'timeout'
  | 'aborted'
  | 'full'
  | 'closed'
  | 'cleared'
  | 'overloaded'
  | 'unavailable'
  | 'failed';

/** What every {@link AdmissionMessage} has. */
export interface AdmissionMessageBase {
  /** The part (a `Semaphore`, a `Pool`, ...): the same object for all its messages. */
  readonly part: object;
  /** Its class: `'Semaphore'`, `'Mutex'`, `'RateLimiter'`, `'Pool'`, ... */
  readonly kind: string;
  /** Its `name` option (the kind when none was given). */
  readonly name: string;
}

/**
 * One message on {@link ADMISSION_CHANNEL}. Times are ms on the part's clock;
 * `undefined` when the call began before anyone subscribed.
 * - `wait`: a call joined the queue (`waiting` counts it).
 * - `admit`: a call was admitted, after `wait` ms in the queue (0: at once).
 * - `reject`: a call was refused at once (`wait` 0) or left the queue after `wait` ms.
 * - `release`: a lease was given back after `hold` ms.
 */
export type AdmissionMessage =
  | (AdmissionMessageBase & { readonly type: 'wait'; readonly waiting: number })
  | (AdmissionMessageBase & { readonly type: 'admit'; readonly wait: number | undefined })
  | (AdmissionMessageBase & {
      readonly type: 'reject';
      readonly reason: RejectReason;
      readonly wait: number | undefined;
      readonly error: unknown;
    })
  | (AdmissionMessageBase & { readonly type: 'release'; readonly hold: number | undefined });

/** @internal */
export const admissions = channel(ADMISSION_CHANNEL);

/**
 * Internal option of a part built inside another (a Mutex's Semaphore): the
 * outer part is the one named in its messages. Symbol-keyed, in no `.d.ts`.
 * @internal
 */
export const TRACE_AS: unique symbol = Symbol('sluice.traceAs');
/** @internal */
export interface TraceAs {
  readonly [TRACE_AS]?: { readonly part: object; readonly kind: string };
}

const REASONS: Record<string, RejectReason> = {
  SLUICE_TIMEOUT: 'timeout',
  SLUICE_QUEUE_FULL: 'full',
  SLUICE_CLOSED: 'closed',
  SLUICE_CLEARED: 'cleared',
  SLUICE_OVERLOADED: 'overloaded',
  SLUICE_BACKEND_UNAVAILABLE: 'unavailable',
};

/** The trace of each traced part, for exporters that describe a part they were given. @internal */
export const traces = new WeakMap<object, Trace>();

/** The reason a refusal's error stands for (by its sluice `code`). */
export function reasonOf(error: unknown): RejectReason {
  const code = (error as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && REASONS[code]) || 'failed';
}

/**
 * A part's voice on the admission channel. Call its methods only when
 * `admissions.hasSubscribers`; the tokens are the objects that identify a
 * wait (the engine's waiter) and a hold (the lease), timed through weak maps
 * so that nothing is kept per call while nobody listens. Internal.
 */
export class Trace {
  readonly #starts = new WeakMap<object, number>();

  constructor(
    readonly part: object,
    readonly kind: string,
    readonly name: string,
    readonly clock: Clock,
  ) {
    traces.set(part, this);
  }

  waited(waiter: object, waiting: number): void {
    this.#starts.set(waiter, this.clock.now());
    admissions.publish({ type: 'wait', part: this.part, kind: this.kind, name: this.name, waiting });
  }

  /** `lease` was admitted; after a wait when `waiter` is given. */
  admitted(lease: object, waiter?: object): void {
    const now = this.clock.now();
    const wait = this.#since(waiter, now);
    this.#starts.set(lease, now);
    admissions.publish({ type: 'admit', part: this.part, kind: this.kind, name: this.name, wait });
  }

  /** `lease` was admitted after `wait` ms (measured by the part). */
  admittedAfter(lease: object, wait: number | undefined): void {
    this.#starts.set(lease, this.clock.now());
    admissions.publish({ type: 'admit', part: this.part, kind: this.kind, name: this.name, wait });
  }

  /**
   * `fn`, wrapped to tell its start (after a wait since now) and its end: for
   * the parts that run the caller's function rather than lend a lease.
   */
  wrap<F extends (...args: never[]) => unknown>(fn: F): F {
    const calledAt = this.clock.now();
    const trace = this;
    const token = {};
    return function traced(this: unknown, ...args: never[]) {
      trace.admittedAfter(token, trace.clock.now() - calledAt);
      let result: unknown;
      try {
        result = fn.apply(this, args);
      } catch (error) {
        trace.released(token);
        throw error;
      }
      if (result !== null && typeof (result as PromiseLike<unknown>)?.then === 'function') {
        const done = () => trace.released(token);
        Promise.resolve(result).then(done, done);
      } else {
        trace.released(token);
      }
      return result;
    } as F;
  }

  /** A call was refused (at once when `waiter` is undefined) or left the queue. */
  rejected(error: unknown, waiter?: object, reason: RejectReason = reasonOf(error)): void {
    const wait = this.#since(waiter, this.clock.now());
    admissions.publish({ type: 'reject', part: this.part, kind: this.kind, name: this.name, reason, wait, error });
  }

  released(lease: object): void {
    const start = this.#starts.get(lease);
    if (start !== undefined) this.#starts.delete(lease);
    const hold = start === undefined ? undefined : this.clock.now() - start;
    admissions.publish({ type: 'release', part: this.part, kind: this.kind, name: this.name, hold });
  }

  #since(waiter: object | undefined, now: number): number | undefined {
    if (waiter === undefined) return 0;
    const start = this.#starts.get(waiter);
    if (start === undefined) return undefined;
    this.#starts.delete(waiter);
    return now - start;
  }
}
