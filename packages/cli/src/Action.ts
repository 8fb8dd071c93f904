import type { Item } from './Item.js';

/** What one attempt at an item came to. */
export interface Outcome {
  readonly ok: boolean;
  /** Whether another attempt could succeed: HTTP 408/429/5xx, a timeout or a reset (not a 404); a program's any failure but a missing program. */
  readonly retryable: boolean;
  /** The service's load signal (429, 503, timeout): an adaptive limit backs off. */
  readonly overload: boolean;
  /** Ms the service asked to wait (`Retry-After`). */
  readonly retryAfter?: number | undefined;
  /** Whether the wait applies to everything sent to this service (a 429 or 503 with Retry-After), not this item alone. */
  readonly pause: boolean;
  readonly exitCode?: number | null | undefined;
  readonly signal?: string | null | undefined;
  readonly httpStatus?: number | undefined;
  /** stdout or response body, capped. */
  readonly output: string;
  readonly truncated: boolean;
  readonly stderr?: string | undefined;
  readonly error?: string | undefined;
}

/** The per-item work: a program or an HTTP request, made from templates. */
export interface Action {
  /** A digest of everything that decides what an item does: a journal refuses to resume under a different one. */
  readonly fingerprint: string;
  /** The fields its templates read, to check against the input format. */
  readonly fields: readonly string[];
  /** What would run for `item` (`--dry-run`). Throws MissingFieldError. */
  describe(item: Item): string;
  /**
   * Render the item's templates (throws MissingFieldError before anything
   * starts) into an attempt; `signal` ends a running attempt (its timeout,
   * `--halt now`, a second Ctrl-C). An attempt never rejects: it answers an
   * Outcome.
   */
  prepare(item: Item): Attempt;
  /** The default scope of `--per-key` for an item whose template cannot render (HTTP: the URL's host). */
  scopeOf?(item: Item): string | undefined;
  /** Let go of what the action holds (connections). */
  close(): Promise<void>;
}

/**
 * One attempt. `shared`: `signal` is the run's own, the same for every
 * attempt, so an action may watch it once for all of them (rather than one
 * listener per attempt) and end them all together.
 */
export type Attempt = (signal: AbortSignal, shared: boolean) => Promise<Outcome>;

/** Why `signal` ended an attempt, for its outcome's `error`. */
export function abortText(signal: AbortSignal): string {
  const reason = signal.reason as { message?: unknown } | undefined;
  return typeof reason?.message === 'string' ? reason.message : String(reason);
}
