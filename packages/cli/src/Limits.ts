// Admission of one attempt: per-key concurrency, then the run's concurrency
// (fixed, adaptive, or shared through Redis), then the rates, taken last so
// that work starts in the tick its rate admits it.

import type { Permit } from 'sluice';
import { AdaptiveLimiter, type AdaptivePermit, gradient2, RateLimiter, Semaphore } from 'sluice';
import type { Rate } from './units.js';

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
  /** Whether the shared rate admits now; if not, ms to wait. */
  consumeRate(signal: AbortSignal): Promise<number>;
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

  constructor(settings: LimitSettings) {
    const shared = settings.shared;
    this.#shared = shared;
    if (settings.concurrency === 'auto') {
      this.#adaptive = new AdaptiveLimiter({
        algorithm: gradient2({ initial: Math.min(8, settings.maxConcurrency), min: 1, max: settings.maxConcurrency }),
      });
    } else {
      this.#fixed = new Semaphore(settings.concurrency);
    }
    const sliding = (rates: readonly Rate[]) =>
      rates.map((rate) => ({ limit: rate.limit, interval: rate.interval, algorithm: 'sliding-window' as const }));
    if (settings.rates.length > 0 && !shared?.hasRate)
      this.#rate = new RateLimiter({ limits: sliding(settings.rates) });
    if (settings.keyRates.length > 0 && !shared?.hasKeyRate) {
      this.#keyRate = new RateLimiter({ limits: sliding(settings.keyRates) });
    }
    this.#keyConcurrency = settings.keyConcurrency;
  }

  /** The run's concurrency limit now (moves under `auto`). */
  get limit(): number {
    return this.#adaptive?.limit ?? this.#fixed?.capacity ?? 0;
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
    return {
      release(outcome) {
        if (adaptive !== undefined) {
          if (outcome === 'ok') adaptive.success();
          else if (outcome === 'drop') adaptive.drop();
          else adaptive.ignore();
        }
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
   * The key's rate, then the run's. A start must coincide with an admission
   * of every rate it is counted against, or starts could bunch beyond a rate
   * after a wait: so with both, the key admits (waiting), then the run's rate
   * is asked without waiting; refused, the item sleeps until the run's rate
   * has room and asks the key again (the key's unused admission is spent,
   * never exceeded).
   */
  async #acquireRates(scope: string | undefined, signal: AbortSignal): Promise<void> {
    const keyed = scope !== undefined && (this.#keyRate !== undefined || this.#shared?.hasKeyRate === true);
    const global = this.#rate !== undefined || this.#shared?.hasRate === true;
    if (!keyed) {
      if (this.#rate !== undefined) await this.#rate.acquire({ signal });
      else if (global) await (this.#shared as SharedLimits).acquireRate(undefined, signal);
      return;
    }
    for (;;) {
      if (this.#keyRate !== undefined) await this.#keyRate.acquire({ key: scope, signal });
      else await (this.#shared as SharedLimits).acquireRate(scope, signal);
      if (!global) return;
      const wait =
        this.#rate !== undefined
          ? this.#rate.consume().retryAfter
          : await (this.#shared as SharedLimits).consumeRate(signal);
      if (wait === 0) return;
      await sleep(wait, signal);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.#adaptive?.close(), this.#fixed?.close(), this.#rate?.close(), this.#keyRate?.close()]);
  }
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
