// Admission of one attempt: per-key concurrency, then the run's concurrency
// (fixed, adaptive, or shared through Redis), then the rates, taken last: the
// shared ones by waiting, the local ones by asking at the moment of the start.

import type { Clock, Permit } from 'sluice';
import { AdaptiveLimiter, type AdaptivePermit, RateLimiter, Semaphore, systemClock } from 'sluice';
import { deliveryRate } from './deliveryRate.js';
import { type Rate, slidingWindows } from './units.js';

/** A held admission; `outcome` tells an adaptive limit what the attempt met. */
export interface Slot {
  release(outcome: 'ok' | 'drop' | 'ignore'): void;
}

/** What the limits need from a shared backend (Redis); see RedisShare. */
export interface SharedLimits {
  /** A concurrency slot shared by every runner of the job. */
  acquireSlot(signal: AbortSignal): Promise<{ release(): void }>;
  /** Wait for the job's shared rate (`scope` undefined) or a key's. */
  acquireRate(scope: string | undefined, signal: AbortSignal): Promise<void>;
  readonly hasRate: boolean;
  readonly hasKeyRate: boolean;
  readonly hasSlots: boolean;
}

export interface LimitSettings {
  /** Items running at once, or 'auto' for an adaptive limit up to `maxConcurrency`. */
  readonly concurrency: number | 'auto';
  readonly maxConcurrency: number;
  readonly rates: readonly Rate[];
  readonly keyRates: readonly Rate[];
  readonly keyConcurrency: number | undefined;
  readonly shared?: SharedLimits | undefined;
}

interface KeySlots {
  readonly semaphore: Semaphore;
  users: number;
}

export class Limits {
  readonly #fixed: Semaphore | undefined;
  readonly #adaptive: AdaptiveLimiter | undefined;
  readonly #rate: RateLimiter | undefined;
  readonly #keyRate: RateLimiter | undefined;
  readonly #keyConcurrency: number | undefined;
  readonly #keys = new Map<string, KeySlots>();
  readonly #shared: SharedLimits | undefined;
  /** Attempts holding a slot while they wait for a rate (kept by the caller of `startNow`). */
  rateWaits = 0;
  /** The instant of the current `startNow` (every rate reads this one clock value), else undefined. */
  #at: number | undefined;
  /** The rates' clock: inside `startNow` the one instant of that start. */
  readonly #clock: Clock = {
    now: () => this.#at ?? performance.now(),
    setTimeout: systemClock.setTimeout,
    clearTimeout: systemClock.clearTimeout,
  };

  constructor(settings: LimitSettings) {
    const shared = settings.shared;
    this.#shared = shared;
    if (settings.concurrency === 'auto') {
      this.#adaptive = new AdaptiveLimiter({
        algorithm: deliveryRate({
          initial: Math.min(8, settings.maxConcurrency),
          min: 1,
          max: settings.maxConcurrency,
          appLimited: () => this.rateWaits > 0,
        }),
      });
    } else {
      this.#fixed = new Semaphore(settings.concurrency);
    }
    if (settings.rates.length > 0 && !shared?.hasRate)
      this.#rate = new RateLimiter({ limits: slidingWindows(settings.rates), clock: this.#clock });
    if (settings.keyRates.length > 0 && !shared?.hasKeyRate) {
      this.#keyRate = new RateLimiter({ limits: slidingWindows(settings.keyRates), clock: this.#clock });
    }
    this.#keyConcurrency = settings.keyConcurrency;
  }

  /** Whether an attempt waits for a rate shared through Redis (its grants are spent when given). */
  get sharesRate(): boolean {
    return this.#shared !== undefined && (this.#shared.hasRate || this.#shared.hasKeyRate);
  }

  /** The run's concurrency limit now (moves under `auto`). */
  get limit(): number {
    return this.#adaptive?.limit ?? this.#fixed?.capacity ?? 0;
  }

  /**
   * Everything an attempt of `scope` needs, now, when that is the run's
   * concurrency alone (no per-key limit, nothing shared) and it is free;
   * else undefined (`acquire` waits). Never jumps ahead of a waiting attempt.
   */
  tryAcquire(scope: string | undefined): Slot | undefined {
    if ((scope !== undefined && this.#keyConcurrency !== undefined) || this.#shared !== undefined) return undefined;
    if (this.#adaptive === undefined) return (this.#fixed as Semaphore).tryAcquire();
    const permit = this.#adaptive.tryAcquire();
    return permit === undefined ? undefined : new AdaptiveSlot(permit);
  }

  /** Wait for everything an attempt of `scope` needs. Rejects with `signal.reason` when aborted. */
  async acquire(scope: string | undefined, signal: AbortSignal): Promise<Slot> {
    const held: (() => void)[] = [];
    let adaptive: AdaptivePermit | undefined;
    try {
      if (scope !== undefined && this.#keyConcurrency !== undefined) held.push(await this.#acquireKey(scope, signal));
      if (this.#adaptive !== undefined) adaptive = await this.#adaptive.acquire({ signal });
      else {
        const permit = await (this.#fixed as Semaphore).acquire({ signal });
        held.push(() => permit.release());
      }
      if (this.#shared?.hasSlots) {
        const lease = await this.#shared.acquireSlot(signal);
        held.push(() => lease.release());
      }
      await this.#acquireRates(scope, signal);
    } catch (error) {
      adaptive?.ignore();
      for (const release of held.reverse()) release();
      throw error;
    }
    if (held.length === 0 && adaptive !== undefined) return new AdaptiveSlot(adaptive);
    return {
      release(outcome) {
        if (adaptive !== undefined) report(adaptive, outcome);
        for (let i = held.length - 1; i >= 0; i--) (held[i] as () => void)();
      },
    };
  }

  async #acquireKey(scope: string, signal: AbortSignal): Promise<() => void> {
    let slots = this.#keys.get(scope);
    if (slots === undefined) {
      slots = { semaphore: new Semaphore(this.#keyConcurrency as number), users: 0 };
      this.#keys.set(scope, slots);
    }
    slots.users++;
    const leave = () => {
      if (--(slots as KeySlots).users === 0) this.#keys.delete(scope);
    };
    let permit: Permit;
    try {
      permit = await slots.semaphore.acquire({ signal });
    } catch (error) {
      leave();
      throw error;
    }
    return () => {
      permit.release();
      leave();
    };
  }

  /**
   * The rates kept in this process, asked at the moment of the start `at`
   * (performance.now(); the caller records it as the attempt's start): 0 when
   * both the key's and the run's rate admitted it then (the caller starts the
   * work in the same synchronous step, so every rate is counted where work
   * starts, not where a wait ended); else ms to wait before asking again.
   * Both rates read `at`, so a start lies in the same windows for each and
   * for whoever reads its recorded time. The key's rate is asked first:
   * refused by the run's rate, its admission is spent, never exceeded.
   */
  startNow(scope: string | undefined, at: number): number {
    this.#at = at;
    try {
      if (scope !== undefined && this.#keyRate !== undefined) {
        const wait = this.#keyRate.consume({ key: scope }).retryAfter;
        if (wait > 0) return wait;
      }
      return this.#rate === undefined ? 0 : this.#rate.consume().retryAfter;
    } finally {
      this.#at = undefined;
    }
  }

  /** The rates shared through Redis: decided on the server's clock, so they are waited for before `startNow`. */
  async #acquireRates(scope: string | undefined, signal: AbortSignal): Promise<void> {
    const shared = this.#shared;
    if (shared === undefined) return;
    if (scope !== undefined && shared.hasKeyRate) await shared.acquireRate(scope, signal);
    if (shared.hasRate) await shared.acquireRate(undefined, signal);
  }

  async close(): Promise<void> {
    await Promise.all([this.#adaptive?.close(), this.#fixed?.close(), this.#rate?.close(), this.#keyRate?.close()]);
  }
}

/** An adaptive limit's permit told what the attempt met. */
class AdaptiveSlot implements Slot {
  readonly permit: AdaptivePermit;
  constructor(permit: AdaptivePermit) {
    this.permit = permit;
  }
  release(outcome: 'ok' | 'drop' | 'ignore'): void {
    report(this.permit, outcome);
  }
}

function report(permit: AdaptivePermit, outcome: 'ok' | 'drop' | 'ignore'): void {
  if (outcome === 'ok') permit.success();
  else if (outcome === 'drop') permit.drop();
  else permit.ignore();
}

/** Resolve after `ms`; reject with `signal.reason` when it aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const done = () => {
      signal.removeEventListener('abort', abort);
      resolve();
    };
    const timer = setTimeout(done, Math.ceil(ms));
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
  });
}
