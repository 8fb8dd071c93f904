import type { Lease } from '../core/admission.js';
import type { Clock } from '../core/clock.js';

/** Why a resource was destroyed (the `destroy` event's `reason`). */
export type DestroyReason =
  | 'error'
  | 'invalid'
  | 'idle'
  | 'lifetime'
  | 'uses'
  | 'reset-failed'
  | 'late-create'
  | 'closed';

/** The side of the pool a lease gives its resource back to. Internal. */
export interface LeaseOwner<T> {
  giveBack(entry: Entry<T>, state: 'sound' | 'broken' | 'suspect'): void;
}

/** A borrowed resource. Give it back with `release()` (or `using`); `release(error)` destroys it. */
export class PoolLease<T> implements Lease {
  readonly resource: T;
  #entry: Entry<T> | undefined;
  readonly #pool: LeaseOwner<T>;

  /** @internal */
  constructor(pool: LeaseOwner<T>, entry: Entry<T>) {
    this.#pool = pool;
    this.#entry = entry;
    this.resource = entry.resource;
  }

  get released(): boolean {
    return this.#entry === undefined;
  }

  /** Return the resource; with an error (the resource is broken), destroy it instead. Idempotent. */
  release(error?: unknown): void {
    const entry = this.#entry;
    if (entry === undefined) return;
    this.#entry = undefined;
    this.#pool.giveBack(entry, error !== undefined ? 'broken' : 'sound');
  }

  /** @internal Return a resource whose work failed: checked before its next borrower. */
  releaseSuspect(): void {
    const entry = this.#entry;
    if (entry === undefined) return;
    this.#entry = undefined;
    this.#pool.giveBack(entry, 'suspect');
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** Where a lease was taken, for a leak report. */
export function borrowerStack(): string {
  return new Error('Pool lease acquired here').stack ?? '';
}

/** One resource and its history. Internal. */
export class Entry<T> {
  lastUsedAt: number;
  lastCheckedAt: number;
  uses = 0;
  borrowedAt = 0;
  leakTimer: unknown = undefined;
  stack: string | undefined = undefined;
  /** The lease that holds it, when borrowed (a forced close revokes it). */
  lease: PoolLease<T> | undefined = undefined;
  constructor(
    readonly resource: T,
    readonly createdAt: number,
    readonly expiresAt: number,
  ) {
    this.lastUsedAt = createdAt;
    this.lastCheckedAt = createdAt;
  }

  /** Call `onLeak(heldFor, stack)` if this resource is still borrowed `threshold` ms from now. */
  watchLeak(clock: Clock, threshold: number, stack: string, onLeak: (heldFor: number, stack: string) => void): void {
    this.stack = stack;
    this.leakTimer = clock.setTimeout(
      () => {
        this.leakTimer = undefined;
        onLeak(clock.now() - this.borrowedAt, stack);
      },
      threshold,
      false,
    );
  }

  unwatchLeak(clock: Clock): void {
    if (this.leakTimer === undefined) return;
    clock.clearTimeout(this.leakTimer);
    this.leakTimer = undefined;
  }
}
