import type { PoolSettings } from './options.js';
import type { DestroyReason, Entry } from './PoolLease.js';

/** When `entry` next needs attention while idle: its lifetime, idle timeout or keep-alive check. */
export function nextDeadline<T>(entry: Entry<T>, settings: PoolSettings<T>): number {
  const { idleTimeout, keepAliveInterval } = settings;
  let at = entry.expiresAt;
  if (idleTimeout !== Number.POSITIVE_INFINITY) at = Math.min(at, entry.lastUsedAt + idleTimeout);
  if (settings.validate !== undefined && keepAliveInterval !== Number.POSITIVE_INFINITY) {
    at = Math.min(at, Math.max(entry.lastUsedAt, entry.lastCheckedAt) + keepAliveInterval);
  }
  return at;
}

/** What a housekeeping pass does to the idle resources. */
export interface Sweep<T> {
  /** To destroy, with why. */
  readonly retire: readonly [Entry<T>, DestroyReason][];
  /** To check (keep-alive). */
  readonly check: readonly Entry<T>[];
  /** When the next pass is due for the ones that stay (Infinity: none). */
  readonly next: number;
}

/**
 * Decide a housekeeping pass over `idle` (oldest first) at `now`: retire what
 * is past its lifetime, or idle too long while the pool is above `min` (each
 * retirement brings `size` down), and check what is due for a keep-alive.
 */
export function sweep<T>(idle: readonly Entry<T>[], now: number, size: number, settings: PoolSettings<T>): Sweep<T> {
  const retire: [Entry<T>, DestroyReason][] = [];
  const check: Entry<T>[] = [];
  let next = Number.POSITIVE_INFINITY;
  let alive = size;
  for (const entry of idle) {
    if (now >= entry.expiresAt) {
      retire.push([entry, 'lifetime']);
      alive--;
    } else if (now - entry.lastUsedAt >= settings.idleTimeout && alive > settings.min) {
      retire.push([entry, 'idle']);
      alive--;
    } else if (
      settings.validate !== undefined &&
      now - Math.max(entry.lastUsedAt, entry.lastCheckedAt) >= settings.keepAliveInterval
    ) {
      check.push(entry);
    } else {
      next = Math.min(next, nextDeadline(entry, settings));
    }
  }
  return { retire, check, next };
}
