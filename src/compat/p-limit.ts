/**
 * Drop-in for p-limit 7: `import pLimit, { limitFunction } from 'sluice/compat/p-limit'`.
 *
 * Same behaviour as p-limit 7 (checked by test/compat-p-limit.test.ts):
 * functions start in a microtask, `clearQueue()` drops waiting calls (their
 * promises never settle) unless `rejectOnClear: true`, which rejects them with
 * an `AbortError`; `map` queues the whole iterable at once. Backed by sluice's
 * `limit()`.
 */
import { type LimitFunction as CoreLimitFunction, LIMIT_HOOKS, type LimitOptions, limit } from '../core/limit.js';

export interface Options {
  /** Concurrency limit: an integer from 1 up, or Infinity. */
  readonly concurrency: number;
  /** Reject pending promises with an `AbortError` on `clearQueue()`. @default false */
  readonly rejectOnClear?: boolean;
}

export interface LimitFunction {
  <Arguments extends unknown[], ReturnType>(
    function_: (...arguments_: Arguments) => PromiseLike<ReturnType> | ReturnType,
    ...arguments_: Arguments
  ): Promise<ReturnType>;
  readonly activeCount: number;
  readonly pendingCount: number;
  concurrency: number;
  clearQueue(): void;
  map<Input, ReturnType>(
    iterable: Iterable<Input>,
    mapperFunction: (input: Input, index: number) => PromiseLike<ReturnType> | ReturnType,
  ): Promise<ReturnType[]>;
}

function validateConcurrency(concurrency: unknown): number {
  if (!((Number.isInteger(concurrency) || concurrency === Number.POSITIVE_INFINITY) && (concurrency as number) > 0)) {
    throw new TypeError('Expected `concurrency` to be a number from 1 and up');
  }
  return concurrency as number;
}

/** One call: the function and its arguments. */
class Call {
  constructor(
    readonly fn: (...args: unknown[]) => unknown,
    readonly args: unknown[] | undefined,
  ) {}
}

const runCall = (call: Call): unknown => (call.args === undefined ? call.fn() : call.fn(...call.args));

/** p-limit's timing: the slot is taken at once, the function starts in a microtask. Shared: no closure per call. */
const later = (call: Call): Promise<unknown> => Promise.resolve(call).then(runCall);

export default function pLimit(options: number | Options): LimitFunction {
  const rejectOnClear = typeof options === 'object' && options !== null ? options.rejectOnClear : undefined;
  if (rejectOnClear !== undefined && typeof rejectOnClear !== 'boolean') {
    throw new TypeError('Expected `rejectOnClear` to be a boolean');
  }
  let concurrency = validateConcurrency(
    typeof options === 'object' && options !== null ? options.concurrency : options,
  );
  const core: CoreLimitFunction = limit({
    concurrency,
    [LIMIT_HOOKS]: { dropOnClear: rejectOnClear !== true },
  } as LimitOptions);
  // A call that finds a slot takes it at once and starts a microtask later
  // (`later`); a call that waits starts when the core grants it. A call
  // dropped by clearQueue() (rejectOnClear false) never settles, as in p-limit.
  // A plain function (not a rest parameter): a call without arguments allocates no array.
  const generator = function limited(fn: (...args: unknown[]) => unknown) {
    if (typeof fn !== 'function') return Promise.reject(new TypeError(`${String(fn)} is not a function`));
    // biome-ignore lint/complexity/noArguments: see above.
    const args = arguments.length === 1 ? undefined : Array.prototype.slice.call(arguments, 1);
    if (core.running < core.concurrency && core.waiting === 0) return core(later, new Call(fn, args));
    // It waits: the core starts it when its turn comes (p-limit too starts it in the grant's reaction).
    return args === undefined ? core(fn) : core(fn, ...args);
  } as unknown as LimitFunction;
  Object.defineProperties(generator, {
    activeCount: { get: () => core.running },
    pendingCount: { get: () => core.waiting },
    concurrency: {
      get: () => concurrency,
      set(value: number) {
        concurrency = validateConcurrency(value);
        queueMicrotask(() => {
          core.concurrency = concurrency;
        });
      },
    },
    clearQueue: {
      value: () => {
        core.clear(AbortSignal.abort().reason); // an AbortError, or (rejectOnClear false) forgotten
      },
    },
    map: {
      async value(iterable: Iterable<unknown>, fn: (value: unknown, index: number) => unknown) {
        const promises: Promise<unknown>[] = [];
        try {
          Array.from(iterable, (value, index) => {
            const promise = generator(fn, value, index);
            promises.push(promise);
            return promise;
          });
        } catch (error) {
          for (const promise of promises) promise.catch(() => {});
          throw error;
        }
        return Promise.all(promises);
      },
    },
  });
  return generator;
}

/** Wrap `fn` so that calls to it go through a new limit. */
export function limitFunction<Arguments extends unknown[], ReturnType>(
  function_: (...arguments_: Arguments) => PromiseLike<ReturnType> | ReturnType,
  options: number | Options,
): ((...arguments_: Arguments) => Promise<ReturnType>) & { clearQueue(): void } {
  const limited = pLimit(options);
  const limitedFunction = (...arguments_: Arguments) => limited(() => function_(...arguments_)) as Promise<ReturnType>;
  Object.defineProperty(limitedFunction, 'clearQueue', { value: limited.clearQueue });
  return limitedFunction as typeof limitedFunction & { clearQueue(): void };
}
