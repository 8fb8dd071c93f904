import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ResourceLimits, TransferListItem } from 'node:worker_threads';
import { type Clock, systemClock } from '../core/clock.js';
import { checkBoolean, checkCount, checkMs, checkRenamed, show } from '../core/validate.js';

/** Options of the {@link WorkerPool} constructor. */
export interface WorkerPoolOptions {
  /** The worker module (ESM or CommonJS): a path or `file:` URL. Its exported functions are the tasks. */
  readonly filename: string | URL;
  /** Threads kept even when idle (started at once). An integer >= 0. @default 0 */
  readonly minThreads?: number;
  /** Most threads. An integer >= 1, >= minThreads. @default os.availableParallelism() */
  readonly maxThreads?: number;
  /** An idle thread above `minThreads` exits after this many ms. @default 10000 */
  readonly idleTimeout?: number;
  /** Most tasks waiting for a thread; one more rejects with `QueueFullError`. An integer >= 0 or Infinity. @default Infinity */
  readonly maxWaiting?: number;
  /** Tasks a thread runs at once (for async tasks). An integer >= 1. @default 1 */
  readonly concurrentTasksPerWorker?: number;
  /**
   * Queued tasks beyond the threads' capacity at which `needsDrain` turns
   * true (see `needsDrain`). An integer >= 0. @default maxThreads x concurrentTasksPerWorker
   */
  readonly highWaterMark?: number;
  /** Recycle a thread after this many tasks. @default Infinity */
  readonly maxTasksPerWorker?: number;
  /** Recycle a thread whose heap exceeds this many bytes after a task. @default Infinity */
  readonly maxHeapBytes?: number;
  /**
   * Idle threads sleep in `Atomics.wait` and are woken directly for the next
   * task (as piscina does): a faster round trip, but timers and other
   * callbacks inside an idle worker do not run until it gets a task. Turn off
   * for worker modules that keep background work. @default true
   */
  readonly atomics?: boolean;
  /** Passed to each `Worker`. */
  readonly resourceLimits?: ResourceLimits;
  /** Passed to each `Worker` (readable as `workerData` in the module). */
  readonly workerData?: unknown;
  /** Passed to each `Worker`. */
  readonly execArgv?: string[];
  /** Passed to each `Worker`. @default process.env (shared) */
  readonly env?: NodeJS.ProcessEnv;
  /** For task timeouts and idle timeouts. @default systemClock */
  readonly clock?: Clock;
}

/** Options of {@link WorkerPool.run}. */
export interface WorkerRunOptions {
  /** The exported function to call. @default 'default' */
  readonly name?: string;
  /** Objects to transfer rather than copy (ArrayBuffers, MessagePorts). */
  readonly transferList?: readonly TransferListItem[];
  /** Abort: a queued task leaves the queue; a running task's thread is terminated and replaced. */
  readonly signal?: AbortSignal | undefined;
  /** Most ms to wait for a thread; then `TimeoutError` and the task never runs. @default Infinity */
  readonly timeout?: number;
  /** Most ms the task may run (from dispatch); past it, its thread is terminated and replaced (`TimeoutError`). @default Infinity */
  readonly runTimeout?: number;
  /** Higher is dispatched first; FIFO among equals. @default 0 */
  readonly priority?: number;
}

/** The options of a worker pool, validated, with their defaults. Internal. */
export interface WorkerPoolSettings {
  readonly url: string;
  readonly minThreads: number;
  readonly maxThreads: number;
  readonly idleTimeout: number;
  readonly maxWaiting: number;
  readonly perWorker: number;
  readonly highWaterMark: number;
  readonly maxTasksPerWorker: number;
  readonly maxHeapBytes: number;
  readonly atomics: boolean;
  readonly workerOptions: {
    readonly resourceLimits?: ResourceLimits;
    readonly workerData?: unknown;
    readonly execArgv?: string[];
    readonly env?: NodeJS.ProcessEnv;
  };
  readonly clock: Clock;
}

/** Validate a worker pool's options (each error names the option and the value) and fill in the defaults. */
export function workerPoolSettings(options: WorkerPoolOptions): WorkerPoolSettings {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object with \`filename\`, got ${show(options)}`);
  }
  const url = moduleUrl(options.filename);
  const maxThreads = checkCount('maxThreads', options.maxThreads ?? availableParallelism(), 1, false);
  const minThreads = checkCount('minThreads', options.minThreads ?? 0, 0, false);
  if (minThreads > maxThreads) {
    throw new RangeError(
      `Expected \`minThreads\` to be at most \`maxThreads\` (${maxThreads}), got ${show(minThreads)}`,
    );
  }
  const idleTimeout = checkMs('idleTimeout', options.idleTimeout ?? 10_000);
  checkRenamed(options, { maxQueue: 'maxWaiting' });
  const maxWaiting = checkCount('maxWaiting', options.maxWaiting ?? Number.POSITIVE_INFINITY, 0, true);
  const perWorker = checkCount('concurrentTasksPerWorker', options.concurrentTasksPerWorker ?? 1, 1, false);
  return {
    url,
    minThreads,
    maxThreads,
    idleTimeout,
    maxWaiting,
    perWorker,
    highWaterMark: checkCount('highWaterMark', options.highWaterMark ?? maxThreads * perWorker, 0, true),
    maxTasksPerWorker: checkCount('maxTasksPerWorker', options.maxTasksPerWorker ?? Number.POSITIVE_INFINITY, 1, true),
    maxHeapBytes: checkCount('maxHeapBytes', options.maxHeapBytes ?? Number.POSITIVE_INFINITY, 1, true),
    atomics: options.atomics === undefined ? true : checkBoolean('atomics', options.atomics),
    workerOptions: {
      ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
      ...(options.workerData === undefined ? {} : { workerData: options.workerData }),
      ...(options.execArgv === undefined ? {} : { execArgv: options.execArgv }),
      ...(options.env === undefined ? {} : { env: options.env }),
    },
    clock: options.clock ?? systemClock,
  };
}

function moduleUrl(filename: unknown): string {
  if (filename instanceof URL) return filename.href;
  if (typeof filename !== 'string' || filename === '') {
    throw new TypeError(`Expected \`filename\` to be a path or a file URL, got ${show(filename)}`);
  }
  if (filename.startsWith('file:')) return filename;
  return pathToFileURL(isAbsolute(filename) ? filename : resolve(filename)).href;
}
