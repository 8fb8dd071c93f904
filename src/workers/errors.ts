// The errors of the worker pool.
import { SluiceError } from '../core/errors.js';

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
