import type { TransferListItem, Worker } from 'node:worker_threads';
import type { Clock } from '../core/clock.js';

/** Why a thread exited (the `workerExit` event's `reason`). */
export type ExitReason = 'idle' | 'recycled' | 'crashed' | 'cancelled' | 'closed';

const noop = (): void => {};

/** A task: waiting in the pool's queue (as its waiter's `data`), then running on a thread. Internal. */
export class Task {
  /** The caller's promise, answered with the result (set when the task leaves the queue). */
  resolve: (value: unknown) => void = noop;
  /** While running: the abort listener that stops the thread. */
  onAbort: (() => void) | undefined = undefined;
  timer: unknown = undefined;
  startedAt = 0;
  thread: Thread | undefined = undefined;
  constructor(
    readonly id: number,
    readonly name: string,
    readonly data: unknown,
    readonly transferList: readonly TransferListItem[] | undefined,
    readonly runTimeout: number,
    readonly signal: AbortSignal | undefined,
    readonly queuedAt: number,
  ) {}
}

/** One worker thread and what the pool knows of it. Internal. */
export class Thread {
  readonly running = new Map<number, Task>();
  /** The wake-up counter shared with the worker (atomics mode). */
  wake: Int32Array | undefined = undefined;
  done = 0;
  /** To be stopped once its running tasks end (recycling). */
  retiring = false;
  idleTimer: unknown = undefined;
  idleCheck = false;
  #referenced = true;
  /** Why the pool stopped it; undefined while it lives (an exit then is a crash). */
  #exit: ExitReason | undefined = undefined;

  constructor(readonly worker: Worker) {}

  /** Whether the pool has begun stopping it. */
  get exiting(): boolean {
    return this.#exit !== undefined;
  }

  /** Why it exited: the pool's reason, or a crash. */
  get exitReason(): ExitReason {
    return this.#exit ?? 'crashed';
  }

  /** Mark it as being stopped for `reason`; false if it already was. */
  beginExit(reason: ExitReason): boolean {
    if (this.#exit !== undefined) return false;
    this.#exit = reason;
    return true;
  }

  /** Whether it can take one more task now. */
  hasRoom(perWorker: number): boolean {
    return !this.retiring && this.#exit === undefined && this.running.size < perWorker;
  }

  /** Busy threads keep the process alive; idle ones do not. */
  setReferenced(referenced: boolean): void {
    if (this.#referenced === referenced) return;
    this.#referenced = referenced;
    if (referenced) this.worker.ref();
    else this.worker.unref();
  }

  clearIdle(clock: Clock): void {
    clock.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
