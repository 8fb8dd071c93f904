// Option validation shared by every part. Messages name the option and show the
// value and its type, so `limit(0)` says exactly what was wrong.

export function show(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'bigint' ? `${value}n` : String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return `\`${text}\` (${value === null ? 'null' : typeof value})`;
}

/** An integer >= `min`, or Infinity when `allowInfinity`. */
export function checkCount(name: string, value: unknown, min: number, allowInfinity: boolean): number {
  const bound = allowInfinity ? `an integer >= ${min} or Infinity` : `an integer >= ${min}`;
  if (typeof value !== 'number') {
    throw new TypeError(`Expected \`${name}\` to be ${bound}, got ${show(value)}`);
  }
  const ok = (Number.isInteger(value) && value >= min) || (allowInfinity && value === Number.POSITIVE_INFINITY);
  if (!ok) {
    throw new RangeError(`Expected \`${name}\` to be ${bound}, got ${show(value)}`);
  }
  return value;
}

/** A finite or infinite number >= 0 of milliseconds. */
export function checkMs(name: string, value: unknown, allowInfinity = true): number {
  const bound = allowInfinity ? 'a number of milliseconds >= 0' : 'a finite number of milliseconds >= 0';
  if (typeof value !== 'number') {
    throw new TypeError(`Expected \`${name}\` to be ${bound}, got ${show(value)}`);
  }
  if (Number.isNaN(value) || value < 0 || (!allowInfinity && !Number.isFinite(value))) {
    throw new RangeError(`Expected \`${name}\` to be ${bound}, got ${show(value)}`);
  }
  return value;
}

export function checkFiniteNumber(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new TypeError(`Expected \`${name}\` to be a finite number, got ${show(value)}`);
  }
  if (!Number.isFinite(value)) {
    throw new RangeError(`Expected \`${name}\` to be a finite number, got ${show(value)}`);
  }
  return value;
}

export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${show(value)}`);
  }
}

export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as AbortSignal).aborted !== 'boolean' ||
    typeof (value as AbortSignal).addEventListener !== 'function'
  ) {
    throw new TypeError(`Expected \`${name}\` to be an AbortSignal, got ${show(value)}`);
  }
  return value as AbortSignal;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`Expected \`${name}\` to be a boolean, got ${show(value)}`);
  }
  return value;
}

/**
 * Refuse an option under a name it no longer has (a retired name would
 * otherwise be ignored in silence: a renamed bound that bounds nothing).
 */
/** Refuse an option that no longer exists, saying what took its place. */
export function checkRemoved(options: object | undefined, name: string, instead: string): void {
  const value = (options as Record<string, unknown> | undefined)?.[name];
  if (value !== undefined) {
    throw new TypeError(`The \`${name}\` option was removed: ${instead} (got \`${name}\`: ${show(value)})`);
  }
}

export function checkRenamed(options: object | undefined, renames: Readonly<Record<string, string>>): void {
  if (options === undefined || options === null) return;
  for (const [old, current] of Object.entries(renames)) {
    if ((options as Record<string, unknown>)[old] !== undefined) {
      throw new TypeError(
        `The \`${old}\` option was renamed \`${current}\` (got \`${old}\`: ${show((options as Record<string, unknown>)[old])})`,
      );
    }
  }
}

/** A part's `name` option: a non-empty string, or `fallback` when not given. */
export function checkName(value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`Expected \`name\` to be a non-empty string, got ${show(value)}`);
  }
  return value;
}
