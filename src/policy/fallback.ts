import { checkFunction, checkRenamed } from '../core/validate.js';
import { contextOf, type ExecuteOptions, invoke, type Policy, type PolicyContext, type Work } from './Policy.js';

/** Options of {@link fallback}. */
export interface FallbackOptions {
  /** Which failures get the fallback. The caller's abort never does. @default every error */
  readonly isFailure?: (error: unknown) => boolean;
}

/**
 * Answer with a fallback when the work fails with a chosen error, e.g.
 * `fallback(cached, { isFailure: (e) => e instanceof CircuitOpenError })`. Only on
 * failure: while the work succeeds, the fallback never runs.
 */
export class FallbackPolicy<F> implements Policy {
  readonly #value: F | ((error: unknown, context: PolicyContext) => F | PromiseLike<F>);
  readonly #isFailure: (error: unknown) => boolean;
  #used = 0;

  constructor(
    value: F | ((error: unknown, context: PolicyContext) => F | PromiseLike<F>),
    options: FallbackOptions = {},
  ) {
    this.#value = value;
    checkRenamed(options, { on: 'isFailure' });
    if (options.isFailure !== undefined) checkFunction('isFailure', options.isFailure);
    this.#isFailure = options.isFailure ?? (() => true);
  }

  /** How many calls were answered by the fallback. */
  get used(): number {
    return this.#used;
  }

  /** The fallback value stands in for the work's result: give one of the same type. */
  async execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    checkFunction('fn', fn);
    const context = contextOf(options);
    try {
      return await invoke(fn, context);
    } catch (error) {
      if (options?.signal?.aborted || !this.#isFailure(error)) throw error;
      this.#used++;
      const value = this.#value;
      const result =
        typeof value === 'function'
          ? await (value as (error: unknown, context: PolicyContext) => F | PromiseLike<F>)(error, context)
          : value;
      return result as unknown as T;
    }
  }
}

/** Answer with `value` (or `value(error)`) when the work fails with a chosen error. */
export function fallback<F>(
  value: F | ((error: unknown, context: PolicyContext) => F | PromiseLike<F>),
  options?: FallbackOptions,
): FallbackPolicy<F> {
  return new FallbackPolicy(value, options);
}
