// The errors of the flow operators.
import { SluiceError } from '../core/errors.js';

/**
 * Thrown into the children's signal when a sibling failed (fail-fast) or the
 * scope ended. Code `SLUICE_GROUP_CANCELLED`.
 */
export class GroupCancelledError extends SluiceError {
  static readonly errorCode = 'SLUICE_GROUP_CANCELLED';
  override readonly name = 'GroupCancelledError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_GROUP_CANCELLED', message, options);
  }
}

/** Thrown into the work's signal when the consumer stopped iterating early. Code `SLUICE_ITERATION_STOPPED`. */
export class IterationStoppedError extends SluiceError {
  static readonly errorCode = 'SLUICE_ITERATION_STOPPED';
  override readonly name = 'IterationStoppedError';
  constructor(message: string, options?: ErrorOptions) {
    super('SLUICE_ITERATION_STOPPED', message, options);
  }
}
