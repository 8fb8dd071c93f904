import type { Clock } from './clock.js';
import type { TimeoutError } from './errors.js';

/** What a task function receives. */
export interface TaskContext {
  /** Aborts when the caller's signal aborts or the task passes its run timeout. */
  readonly signal: AbortSignal | undefined;
}

/** What a task function receives when it has no signal: one shared object. */
export const NO_SIGNAL: TaskContext = Object.freeze({ signal: undefined });

/** A task's run timeout and signal, when it has either. Internal. */
export class Guard {
  constructor(
    readonly timeout: number | undefined,
    readonly signal: AbortSignal | undefined,
  ) {}
}

/**
 * One task, from `add()` to its end: the waiter's record while it waits
 * (only when it has a guard or must keep its arrival order; a plain task
 * waits as its function alone), then a node in the intrusive list of running
 * tasks. One object per task keeps a large backlog cheap. Internal.
 */
export class QueuedTask {
  /** Resolves the caller's gate promise (or, `direct`, the caller's promise). */
  go: ((value: unknown) => void) | undefined = undefined;
  direct = false;
  /** Arrival number while waiting; clock time (whole ms) once running. */
  startedAt = 0;
  prev: QueuedTask | undefined = undefined;
  next: QueuedTask | undefined = undefined;
  constructor(
    readonly fn: (context: TaskContext) => unknown,
    public priority: number,
    /** The caller's id, or a number assigned in order. */
    readonly key: string | number,
    /** Run timeout and signal, when either is set (most tasks have neither). */
    readonly guard: Guard | undefined,
  ) {}
  get timeout(): number | undefined {
    return this.guard?.timeout;
  }
  get signal(): AbortSignal | undefined {
    return this.guard?.signal;
  }
  /** The caller's id, or the assigned number as a string. */
  get id(): string {
    return typeof this.key === 'string' ? this.key : String(this.key);
  }
}

/**
 * Run a guarded task: race its work against its signal and its run timeout
 * (whose expiry aborts the signal the work sees). Settles with the work's
 * outcome, the signal's reason, or a `TimeoutError` made by `timedOut`.
 */
export function runGuarded(task: QueuedTask, clock: Clock, timedOut: (ms: number) => TimeoutError): Promise<unknown> {
  const { signal, timeout } = task;
  const controller = timeout === undefined ? undefined : new AbortController();
  return new Promise<unknown>((resolve, reject) => {
    let timer: unknown;
    const cleanup = () => {
      if (timer !== undefined) clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      cleanup();
      controller?.abort(signal?.reason);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeout !== undefined && timeout !== Number.POSITIVE_INFINITY) {
      timer = clock.setTimeout(() => {
        timer = undefined;
        cleanup();
        const error = timedOut(timeout);
        controller?.abort(error);
        reject(error);
      }, timeout);
    }
    let result: unknown;
    try {
      result = task.fn({ signal: controller?.signal ?? signal });
    } catch (error) {
      cleanup();
      reject(error);
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error) => {
        cleanup();
        reject(error);
      },
    );
  });
}
