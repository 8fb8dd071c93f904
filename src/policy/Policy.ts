import { type Admission, admitted, isAdmission } from '../core/admission.js';
import { checkFunction, show } from '../core/validate.js';

/** What each layer of a policy passes to the next, and finally to the work. */
export interface PolicyContext {
  /** Aborts when the caller's signal does, or when a layer gives up (timeout, hedge lost). */
  readonly signal: AbortSignal | undefined;
  /** 1 for the first attempt; a retry layer counts its attempts here. */
  readonly attempt: number;
  /** The borrowed resource, when a layer is a `Pool` (undefined otherwise). */
  readonly resource?: unknown;
}

/** The work a policy runs. */
export type Work<T> = (context: PolicyContext) => T | PromiseLike<T>;

/** Options of `execute`. */
export interface ExecuteOptions {
  /** Abort the call: waiting stops, the work's signal aborts, the promise rejects with the reason. */
  readonly signal?: AbortSignal | undefined;
  /** The attempt number to report to the work (set by an outer retry). @default 1 */
  readonly attempt?: number;
}

/** A resilience policy: runs work under some rule (a timeout, retries, a breaker, ...). */
export interface Policy {
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T>;
}

/** A layer of a pipeline: a policy, or a limiter (admission is then a layer too). */
export type Layer = Policy | Admission;

function isPolicy(layer: unknown): layer is Policy {
  return typeof layer === 'object' && layer !== null && typeof (layer as Policy).execute === 'function';
}

/**
 * Use a limiter as a policy layer: the work runs once the limiter admits it,
 * with the limiter's signal (the caller's, joined with the lease's where a
 * lease can be lost) and, for a `Pool`, the borrowed `resource`.
 */
export function asPolicy(layer: Layer): Policy {
  if (isPolicy(layer)) return layer;
  if (isAdmission(layer)) {
    return {
      execute: (fn, options) => {
        const attempt = options?.attempt ?? 1;
        return admitted(
          layer,
          (signal, context) => fn({ signal, attempt, resource: (context as { resource?: unknown }).resource }),
          options?.signal,
        );
      },
    };
  }
  throw new TypeError(
    `Expected a layer to be a policy (with \`execute\`) or a limiter (an Admission: acquire, run, close, stats), got ${show(layer)}`,
  );
}

/**
 * Compose layers, outermost first: `pipeline(timeout(5000), retry(...),
 * circuitBreaker(...), bulkhead(...))` runs the work inside the bulkhead,
 * inside the breaker, retried, all under one 5 s deadline. Each layer receives
 * `{ signal, attempt }` from the one outside it, so the caller's signal (and a
 * timeout's) reaches the innermost work.
 */
export function pipeline(...layers: Layer[]): Policy {
  const policies = layers.map(asPolicy);
  const run = <T>(index: number, fn: Work<T>, context: PolicyContext): Promise<T> => {
    const policy = policies[index];
    if (policy === undefined) {
      try {
        return Promise.resolve(fn(context));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return policy.execute((inner) => run(index + 1, fn, inner), context);
  };
  return {
    execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
      checkFunction('fn', fn);
      const signal = options?.signal;
      if (signal?.aborted) return Promise.reject(signal.reason);
      return run(0, fn, { signal, attempt: options?.attempt ?? 1 });
    },
  };
}

/**
 * The context to hand on: the one received when it is a full context (from an
 * outer layer: handed on as it is, so a lazily created signal stays
 * uncreated), or one built from the caller's options. Internal.
 */
export function contextOf(options: ExecuteOptions | undefined): PolicyContext {
  if (options !== undefined && typeof options.attempt === 'number') return options as PolicyContext;
  return { signal: options?.signal, attempt: 1 };
}

/** A retry's context for one attempt: the outer signal, read only when used. Internal. */
export class AttemptContext implements PolicyContext {
  constructor(
    readonly parent: ExecuteOptions | undefined,
    readonly attempt: number,
  ) {}
  get signal(): AbortSignal | undefined {
    return this.parent?.signal;
  }
}

/** Call the work, turning a synchronous throw into a rejection. Internal. */
export function invoke<T>(fn: Work<T>, context: PolicyContext): Promise<T> {
  try {
    return Promise.resolve(fn(context));
  } catch (error) {
    return Promise.reject(error);
  }
}
