// The errors of the resilience policies.
import { SluiceError } from '../core/errors.js';

/**
 * A circuit breaker refused the call: it is open (or half-open with its probes
 * in flight, or isolated by hand). Code `SLUICE_CIRCUIT_OPEN`.
 */
export class CircuitOpenError extends SluiceError {
  static readonly errorCode = 'SLUICE_CIRCUIT_OPEN';
  override readonly name = 'CircuitOpenError';
  /** Ms until the breaker lets a probe through (Infinity while isolated). */
  readonly retryAfter: number;
  constructor(message: string, retryAfter: number, options?: ErrorOptions) {
    super('SLUICE_CIRCUIT_OPEN', message, options);
    this.retryAfter = retryAfter;
  }
}

/** Thrown into the signal of a hedged attempt that lost the race. Code `SLUICE_HEDGE_LOST`. */
export class HedgeLostError extends SluiceError {
  static readonly errorCode = 'SLUICE_HEDGE_LOST';
  override readonly name = 'HedgeLostError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_HEDGE_LOST', message, options);
  }
}
