import { show } from '../core/validate.js';

/**
 * How names and keys become Redis key names, the same way for every Redis
 * part: `<prefix>{<name>}:...`, the name percent-encoded inside the hash tag
 * (`%`, `{`, `}`), so the tag is never cut short or empty (a Redis Cluster then
 * keeps all of a limiter's keys in one slot) and two names never share keys.
 */
export function hashTagSafe(name: string): string {
  return name.replace(/[%{}]/g, percentEncode);
}

/**
 * A rate key's place in a key name: `-` for no key, `=` and the key's text
 * otherwise (`%` and `:` percent-encoded), so no key and `''` differ and no
 * key can reach into the suffixes after it. A number is its decimal text
 * (`1` and `'1'` are the same key).
 */
export function keyPart(key: string | number | undefined): string {
  return key === undefined ? '-' : `=${String(key).replace(/[%:]/g, percentEncode)}`;
}

/** A `prefix` option: a string without braces (a brace would move the hash tag out of the name). */
export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw new TypeError(`Expected \`prefix\` to be a string without \`{\` or \`}\`, got ${show(prefix)}`);
  }
  return prefix;
}

function percentEncode(c: string): string {
  return `%${c.charCodeAt(0).toString(16).toUpperCase()}`;
}
