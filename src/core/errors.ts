/**
 * Every error sluice creates is a {@link SluiceError} with a stable `code`.
 *
 * `instanceof` works across two installed copies of the package: the check
 * looks for a brand stored under `Symbol.for`, not for this module's class
 * identity (the same trick undici uses for its errors).
 */

const BRAND: unique symbol = Symbol.for('sluice.error') as never;

/**
 * Stable error codes. The admission protocol's own codes are listed here; each
 * part adds its own in its `errors.ts` (README lists them all), so the union
 * is open. New codes may be added; existing ones never change meaning.
 */
export type SluiceErrorCode =
  | 'SLUICE_TIMEOUT'
  | 'SLUICE_QUEUE_FULL'
  | 'SLUICE_CLOSED'
  | 'SLUICE_CLEARED'
  | 'SLUICE_OVERLOADED'
  | (string & {});

export class SluiceError extends Error {
  /** The stable machine-readable code, e.g. `SLUICE_TIMEOUT`. */
  readonly code: SluiceErrorCode;
  declare readonly [BRAND]: true;

  constructor(code: SluiceErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(value as { [BRAND]?: true })[BRAND]) {
      return false;
    }
    // `this` is the class on the right of `instanceof`; subclasses carry a static code.
    // biome-ignore lint/complexity/noThisInStatic: `this` must be the subclass here, not SluiceError.
    const code = (this as { readonly errorCode?: SluiceErrorCode }).errorCode;
    return code === undefined || (value as SluiceError).code === code;
  }
}

/** A wait or a task took longer than its `timeout`. Code `SLUICE_TIMEOUT`. */
export class TimeoutError extends SluiceError {
  static readonly errorCode = 'SLUICE_TIMEOUT';
  override readonly name = 'TimeoutError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_TIMEOUT', message, options);
  }
}

/** A bounded queue refused new work (load shedding). Code `SLUICE_QUEUE_FULL`. */
export class QueueFullError extends SluiceError {
  static readonly errorCode = 'SLUICE_QUEUE_FULL';
  override readonly name = 'QueueFullError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_QUEUE_FULL', message, options);
  }
}

/** The part was closed; it admits nothing more. Code `SLUICE_CLOSED`. */
export class ClosedError extends SluiceError {
  static readonly errorCode = 'SLUICE_CLOSED';
  override readonly name = 'ClosedError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_CLOSED', message, options);
  }
}

/** A waiting call was removed by `clear()` before it started. Code `SLUICE_CLEARED`. */
export class ClearedError extends SluiceError {
  static readonly errorCode = 'SLUICE_CLEARED';
  override readonly name = 'ClearedError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_CLEARED', message, options);
  }
}

/**
 * Refused to protect the process or the downstream: load shedding (queue
 * wait over target, event-loop lag over threshold) or client-side throttling.
 * Code `SLUICE_OVERLOADED`.
 */
export class OverloadedError extends SluiceError {
  static readonly errorCode = 'SLUICE_OVERLOADED';
  override readonly name = 'OverloadedError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_OVERLOADED', message, options);
  }
}

/**
 * Whether `error` is a timeout: a `TimeoutError` of sluice (`SLUICE_TIMEOUT`),
 * or the reason of an `AbortSignal.timeout()` signal (a `DOMException` named
 * `TimeoutError`).
 */
export function isTimeout(error: unknown): boolean {
  if (error instanceof TimeoutError) return true;
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'TimeoutError';
}
