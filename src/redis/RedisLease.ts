import type { Lease } from '../core/admission.js';
import { LeaseLostError } from './errors.js';

/**
 * A permit of a {@link RedisSemaphore}. Release it with `release()` (or
 * `await using`); if it is not released, it expires `leaseTtl` after the last
 * renewal.
 */
export class RedisLease implements Lease, AsyncDisposable {
  /**
   * The fencing token: a number that grows with every lease granted by this
   * semaphore, ever. Pass it to the protected system with each write and have
   * it refuse tokens lower than the highest it has seen: a holder that paused
   * (GC, network) past its lease then cannot overwrite a newer holder's work.
   */
  readonly token: number;
  /** Aborts (reason `LeaseLostError`) when the lease is lost before release. */
  readonly signal: AbortSignal;
  readonly #controller: AbortController;
  #released: Promise<void> | undefined = undefined;
  readonly #release: () => Promise<void>;

  /** @internal */
  constructor(token: number, controller: AbortController, release: () => Promise<void>) {
    this.token = token;
    this.#controller = controller;
    this.signal = controller.signal;
    this.#release = release;
  }

  /** Whether `release()` was called. */
  get released(): boolean {
    return this.#released !== undefined;
  }

  /** Give the permit back (wakes waiters everywhere). Idempotent; resolves when Redis has it back or is unreachable. */
  release(): Promise<void> {
    this.#released ??= this.#release();
    return this.#released;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** `using`: starts the release (which never rejects) without waiting for Redis. */
  [Symbol.dispose](): void {
    void this.release();
  }

  /** @internal */
  lose(reason: string): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(new LeaseLostError(reason));
  }
}
