/**
 * A mistake on the command line: the message names the flag and the value.
 * `sluice` prints it and exits with code 2 before anything runs.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `value` as it would be typed, for messages. */
export function quoted(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
