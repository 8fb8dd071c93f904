/**
 * Every error sluice creates is a {@link SluiceError} with a stable `code`.
 *
 * `instanceof` works across two installed copies of the package: the check
 * looks for a brand stored under `Symbol.for`, not for this module's class
 * identity (the same trick undici uses for its errors).
 */

const BRAND: unique symbol = Symbol.for('sluice.error') as never;

/** Stable error codes. New codes may be added; existing ones never change meaning. */
export type SluiceErrorCode =
  | 'SLUICE_TIMEOUT'
  | 'SLUICE_QUEUE_FULL'
  | 'SLUICE_CLOSED'
  | 'SLUICE_CLEARED'
  | 'SLUICE_BACKEND_UNAVAILABLE'
  | 'SLUICE_LEASE_LOST'
  | 'SLUICE_CIRCUIT_OPEN'
  | 'SLUICE_WORKER_CRASHED'
  | 'SLUICE_OVERLOADED';

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

/** A queued task was removed by `clearQueue()` / `clear()` before it started. Code `SLUICE_CLEARED`. */
export class ClearedError extends SluiceError {
  static readonly errorCode = 'SLUICE_CLEARED';
  override readonly name = 'ClearedError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_CLEARED', message, options);
  }
}

/**
 * The shared backend (Redis) did not answer in time or could not be reached,
 * and the part fails closed. Code `SLUICE_BACKEND_UNAVAILABLE`; `cause` holds
 * the client's error, if any.
 */
export class BackendUnavailableError extends SluiceError {
  static readonly errorCode = 'SLUICE_BACKEND_UNAVAILABLE';
  override readonly name = 'BackendUnavailableError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_BACKEND_UNAVAILABLE', message, options);
  }
}

/**
 * A distributed lease expired or was taken away before it was released: the
 * holder must stop touching what the lease protected. The reason of a lease's
 * `signal`. Code `SLUICE_LEASE_LOST`.
 */
export class LeaseLostError extends SluiceError {
  static readonly errorCode = 'SLUICE_LEASE_LOST';
  override readonly name = 'LeaseLostError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_LEASE_LOST', message, options);
  }
}

/**
 * A circuit breaker refused the call: it is open (or half-open with its probes
 * in flight, or isolated by hand). Code `SLUICE_CIRCUIT_OPEN`.
 */
export class CircuitOpenError extends SluiceError {
  static readonly errorCode = 'SLUICE_CIRCUIT_OPEN';
  override readonly name = 'CircuitOpenError';
  /** Ms until the breaker lets a probe through (Infinity while isolated). */
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number, options?: ErrorOptions) {
    super('SLUICE_CIRCUIT_OPEN', message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * A worker thread died while running the task (an uncaught error, `process.exit`,
 * out of memory). The pool replaced it. Code `SLUICE_WORKER_CRASHED`; `cause`
 * holds the worker's error, if any.
 */
export class WorkerCrashedError extends SluiceError {
  static readonly errorCode = 'SLUICE_WORKER_CRASHED';
  override readonly name = 'WorkerCrashedError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_WORKER_CRASHED', message, options);
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
