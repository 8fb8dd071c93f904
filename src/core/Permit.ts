import { admissions, type Trace } from './trace.js';

/** The side of a limiter that takes capacity back. Internal. */
export interface PermitOwner {
  releasePermit(weight: number, permit: Permit): void;
}

/**
 * Proof of admission. Give it back exactly once with `release()`, or let
 * `using permit = await sem.acquire()` give it back at the end of the scope.
 * Releasing twice is a no-op: it never creates extra capacity.
 */
export class Permit implements Disposable {
  #owner: PermitOwner | undefined;
  /** The capacity this permit holds. */
  readonly weight: number;

  constructor(owner: PermitOwner, weight: number) {
    this.#owner = owner;
    this.weight = weight;
  }

  /** Whether `release()` has been called. */
  get released(): boolean {
    return this.#owner === undefined;
  }

  /** Give the capacity back. Idempotent. */
  release(): void {
    const owner = this.#owner;
    if (owner === undefined) return;
    this.#owner = undefined;
    owner.releasePermit(this.weight, this);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * Issues permits and counts those not yet released, for a part whose permit
 * gives nothing back (a rate limit's slot is spent once granted): `running`
 * is then "leases held". Internal.
 */
export class PermitCounter implements PermitOwner {
  running = 0;
  /** Told of each release, when the admission channel has listeners. */
  trace: Trace | undefined = undefined;
  issue(weight: number): Permit {
    this.running++;
    return new Permit(this, weight);
  }
  releasePermit(_weight: number, permit: Permit): void {
    this.running--;
    if (admissions.hasSubscribers) this.trace?.released(permit);
  }
}
