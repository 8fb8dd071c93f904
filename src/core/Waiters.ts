import type { Clock } from './clock.js';
import { Deque } from './Deque.js';
import { pending, takeResolver } from './gate.js';
import { type LevelEntry, Levels } from './Levels.js';
import { admissions, type Trace } from './trace.js';

/**
 * One waiting call. A single class for every part, so the engine's code sees
 * one object shape whichever limiter it serves; kept small, since a backlog of
 * a million waiters is a million of these. Internal.
 */
export class Waiter implements LevelEntry {
  /** DONE and DIRECT bits (one field rather than two: a backlog is a million of these). */
  #state = 0;
  /** Its abort listener and deadline, when it has either (most waiters have neither). */
  guard: Guard | undefined = undefined;
  constructor(
    /** The capacity it asks for (a rate cost, a semaphore weight; 1 elsewhere). */
    readonly weight: number,
    public priority: number,
    /** What the part keeps per waiter (a function to run, a partition, a borrower's stack, ...). */
    readonly data: unknown,
    /** A second slot for the part (the function's arguments, an arrival number, ...). */
    readonly extra: unknown,
    /** Settles the caller's promise; a rejection goes through it as a rejected promise. */
    readonly resolve: (value: unknown) => void,
  ) {}

  /** Set once the call has left the queue (granted, taken, aborted, timed out, failed). */
  get done(): boolean {
    return (this.#state & DONE) !== 0;
  }
  set done(value: boolean) {
    this.#state = value ? this.#state | DONE : this.#state & ~DONE;
  }

  /**
   * For parts that run work for the caller (limit, TaskQueue): the caller's
   * promise is this waiter's own, to be resolved with the outcome, rather than
   * a gate whose reaction runs the work in the caller's context (see gate.ts).
   */
  get direct(): boolean {
    return (this.#state & DIRECT) !== 0;
  }
  set direct(value: boolean) {
    this.#state = value ? this.#state | DIRECT : this.#state & ~DIRECT;
  }
}

const DONE = 1;
const DIRECT = 2;

class Guard {
  onAbort: (() => void) | undefined = undefined;
  /** Its own timer, for a deadline earlier than the shared deadline queue's last (rare). */
  timer: unknown = undefined;
  /** Clock time its `timeout` ends, when it has one. */
  deadline = Number.POSITIVE_INFINITY;
  /** In the shared deadline queue and still waiting. */
  queued = false;
  constructor(
    readonly waiter: Waiter,
    readonly signal: AbortSignal | undefined,
    readonly timeout: number,
  ) {}
}

/** What an engine asks of the part it serves. Only on the cold paths (a waiter leaving early). */
export interface WaitersHost {
  /**
   * `waiter` left by abort or deadline (it is out of the queue; its answer
   * follows). `wasFirst`: it was at the head, so a waiter behind it may fit now.
   */
  left(waiter: Waiter, wasFirst: boolean): void;
  /** The error for a waiter whose `timeout` (ms) ran out; built with the part's live state. */
  timeoutError(waiter: Waiter, timeout: number): unknown;
}

/** How many waits ended early; one object may serve several engines (one per key or partition). */
export class WaitCounters {
  /** Waiters that left by abort (counting signals already aborted on arrival). */
  aborted = 0;
  /** Waiters that left because their `timeout` ran out. */
  timedOut = 0;
}

/**
 * The one waiter engine under every limiter: who waits, in what order, and how
 * a wait ends. A part owns its capacity and decides; the engine owns the queue.
 *
 * - Order: FIFO within a priority, higher priority first. The part serves the
 *   head (`first()`) when it fits and leaves it waiting when it does not, so a
 *   heavy head is never overtaken (no starvation). `last()` serves newest-first
 *   for load shedding (adaptive LIFO).
 * - Cancellation: abort and deadline are armed here and nowhere else. A signal
 *   already aborted is refused before anything is queued. A waiter that leaves
 *   from the middle costs amortised O(1) and memory follows the live waiters
 *   (see Levels).
 * - Answers: the caller's promise is settled exactly once, and its abort
 *   listener and timer are removed at that moment (nothing leaks).
 *
 * The model is tokio's `batch_semaphore`, under its Semaphore, Mutex and
 * channels: one fair waiter list, with the permit arithmetic left to the user.
 */
export class Waiters {
  readonly counters: WaitCounters;
  readonly #queue = new Levels<Waiter>();
  readonly #host: WaitersHost;
  readonly #clock: Clock;
  /**
   * Waiters with a deadline, in deadline order, served by one timer. Most
   * waits of a part share one timeout (its default), so deadlines arrive in
   * order and a queue suffices; a deadline earlier than the last one queued
   * gets a timer of its own instead. (One timer per waiter was most of the
   * cost of a pool's acquire with its default `acquireTimeout`.)
   */
  #deadlines: Deque<Guard> | undefined = undefined;
  /** Armed for the first queued deadline; it may outlive that waiter, and then re-arms for the next. */
  #deadlineTimer: unknown = undefined;
  #liveDeadlines = 0;
  #deadDeadlines = 0;

  /** The part's voice on the admission channel: waits, grants and refusals are told here. */
  readonly #trace: Trace | undefined;

  constructor(host: WaitersHost, clock: Clock, counters = new WaitCounters(), trace?: Trace) {
    this.#host = host;
    this.#clock = clock;
    this.counters = counters;
    this.#trace = trace;
  }

  /** Live waiters. */
  get size(): number {
    return this.#queue.size;
  }

  /**
   * Queue a call and return its promise. `signal` aborts the wait (rejecting
   * with its reason); a finite `timeout` (ms) ends it with the host's error.
   * A signal already aborted is refused here, before anything is queued.
   * `direct`: see {@link Waiter.direct}.
   */
  wait<V>(
    weight: number,
    priority: number,
    data: unknown,
    extra: unknown,
    signal: AbortSignal | undefined,
    timeout: number,
    direct = false,
  ): Promise<V> {
    if (signal?.aborted) return this.refuseAborted(signal);
    const promise = pending<V>();
    const waiter = new Waiter(weight, priority, data, extra, takeResolver<unknown>());
    if (direct) waiter.direct = true;
    this.#queue.push(waiter);
    if (signal !== undefined || timeout !== Number.POSITIVE_INFINITY) this.#arm(waiter, signal, timeout);
    if (admissions.hasSubscribers) this.#trace?.waited(waiter, this.#queue.size);
    return promise;
  }

  /** Refuse a call whose signal is already aborted (counted as aborted; nothing is queued). */
  refuseAborted(signal: AbortSignal): Promise<never> {
    this.counters.aborted++;
    if (admissions.hasSubscribers) this.#trace?.rejected(signal.reason, undefined, 'aborted');
    return Promise.reject(signal.reason);
  }

  /** The waiter to serve next (highest priority, then oldest), without removing it. */
  first(): Waiter | undefined {
    return this.#queue.first();
  }

  /** The newest waiter of the lowest priority, without removing it (for newest-first service). */
  last(): Waiter | undefined {
    return this.#queue.last();
  }

  /** Answer `waiter` (from `first()` or `last()`) with `value`: it leaves the queue now. */
  grant(waiter: Waiter, value: unknown): void {
    this.#take(waiter);
    if (admissions.hasSubscribers) this.#trace?.admitted(value as object, waiter);
    waiter.resolve(value);
  }

  /**
   * Take the first waiter out of the queue without answering it (the part
   * answers `waiter.resolve`), or `undefined` when none waits. The hot path of
   * the parts whose head always fits once a slot is free (limit, TaskQueue).
   */
  takeFirst(): Waiter | undefined {
    const waiter = this.#queue.takeFirst();
    if (waiter?.guard !== undefined) this.#settle(waiter);
    return waiter;
  }

  /**
   * Take `waiter` (from `first()` or `last()`) out of the queue without
   * answering it: its abort listener and deadline are removed, and the part
   * answers `waiter.resolve` itself later (a task's result, not its admission).
   */
  take(waiter: Waiter): void {
    this.#take(waiter);
  }

  #take(waiter: Waiter): void {
    this.#queue.remove(waiter);
    this.#settle(waiter);
  }

  /** Answer any live `waiter` with `error` (the part's own reasons: a failed create, a shrink). */
  fail(waiter: Waiter, error: unknown): void {
    if (waiter.done) return;
    this.#take(waiter);
    if (admissions.hasSubscribers) this.#trace?.rejected(error, waiter);
    waiter.resolve(Promise.reject(error));
  }

  /** Take every waiter out without answering them (the part answers, or drops them on purpose). */
  takeAll(): Waiter[] {
    const waiters = this.#queue.takeAll();
    for (const waiter of waiters) this.#settle(waiter);
    return waiters;
  }

  /** Answer every waiter with `error` (close, destroy, clear). Returns how many there were. */
  failAll(error: unknown): number {
    const waiters = this.takeAll();
    const trace = admissions.hasSubscribers ? this.#trace : undefined;
    for (const waiter of waiters) {
      trace?.rejected(error, waiter);
      waiter.resolve(Promise.reject(error));
    }
    return waiters.length;
  }

  /** Move a live waiter to another priority (at the back of that level). */
  reprioritize(waiter: Waiter, priority: number): void {
    this.#queue.reprioritize(waiter, priority);
  }

  /** Live waiters in service order. */
  [Symbol.iterator](): IterableIterator<Waiter> {
    return this.#queue[Symbol.iterator]();
  }

  /** The oldest live waiter of each priority level, highest first. */
  heads(): IterableIterator<Waiter> {
    return this.#queue.heads();
  }

  #arm(waiter: Waiter, signal: AbortSignal | undefined, timeout: number): void {
    const guard = new Guard(waiter, signal, timeout);
    waiter.guard = guard;
    if (signal !== undefined) {
      guard.onAbort = () => {
        this.counters.aborted++;
        this.#leave(waiter, signal.reason, undefined);
      };
      signal.addEventListener('abort', guard.onAbort, { once: true });
    }
    if (timeout === Number.POSITIVE_INFINITY) return;
    const now = this.#clock.now();
    guard.deadline = now + timeout;
    const queue = (this.#deadlines ??= new Deque<Guard>());
    const tail = queue.peekLast();
    if (tail !== undefined && tail.deadline > guard.deadline) {
      guard.timer = this.#clock.setTimeout(() => {
        guard.timer = undefined;
        this.counters.timedOut++;
        this.#leave(waiter, undefined, timeout);
      }, timeout);
      return;
    }
    queue.push(guard);
    guard.queued = true;
    this.#liveDeadlines++;
    if (this.#deadlineTimer === undefined) this.#armDeadline(guard.deadline, now);
  }

  #armDeadline(at: number, now: number): void {
    this.#deadlineTimer = this.#clock.setTimeout(this.#expire, Math.max(0, Math.ceil(at - now)));
  }

  /** The shared deadline timer: time out every waiter whose deadline has come, then re-arm for the next. */
  readonly #expire = (): void => {
    this.#deadlineTimer = undefined;
    const queue = this.#deadlines as Deque<Guard>;
    const now = this.#clock.now();
    for (let head = queue.peek(); head !== undefined; head = queue.peek()) {
      if (!head.queued) {
        queue.shift();
        this.#deadDeadlines--;
        continue;
      }
      if (head.deadline > now) {
        this.#armDeadline(head.deadline, now);
        return;
      }
      this.counters.timedOut++;
      this.#leave(head.waiter, undefined, head.timeout); // settles it: it leaves the queue below
    }
  };

  /** A queued deadline is no longer needed: drop it (now when at the front, else later), stop the timer when none is left. */
  #unqueue(guard: Guard): void {
    guard.queued = false;
    this.#liveDeadlines--;
    this.#deadDeadlines++;
    const queue = this.#deadlines as Deque<Guard>;
    if (this.#liveDeadlines === 0) {
      queue.clear();
      this.#deadDeadlines = 0;
      if (this.#deadlineTimer !== undefined) {
        this.#clock.clearTimeout(this.#deadlineTimer);
        this.#deadlineTimer = undefined;
      }
      return;
    }
    while (queue.peek()?.queued === false) {
      queue.shift();
      this.#deadDeadlines--;
    }
    if (this.#deadDeadlines > 32 && this.#deadDeadlines > this.#liveDeadlines) {
      queue.filterInPlace((entry) => entry.queued);
      this.#deadDeadlines = 0;
    }
  }

  /**
   * Abort (`reason`) or deadline (`timeout`). The host hears of it first, so
   * a timeout's message shows the state after the waiter left (counting the others).
   */
  #leave(waiter: Waiter, reason: unknown, timeout: number | undefined): void {
    if (waiter.done) return;
    const wasFirst = this.#queue.first() === waiter;
    this.#take(waiter);
    this.#host.left(waiter, wasFirst);
    const error = timeout === undefined ? reason : this.#host.timeoutError(waiter, timeout);
    if (admissions.hasSubscribers) this.#trace?.rejected(error, waiter, timeout === undefined ? 'aborted' : 'timeout');
    waiter.resolve(Promise.reject(error));
  }

  #settle(waiter: Waiter): void {
    const guard = waiter.guard;
    if (guard === undefined) return;
    waiter.guard = undefined;
    if (guard.onAbort !== undefined) (guard.signal as AbortSignal).removeEventListener('abort', guard.onAbort);
    if (guard.timer !== undefined) this.#clock.clearTimeout(guard.timer);
    else if (guard.queued) this.#unqueue(guard);
  }
}
