// The errors of the Redis-backed parts.
import { SluiceError } from '../core/errors.js';

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
