/** See minimal-limit.mjs. */
export function minimalLimit(concurrency: number): <T>(fn: (i: number) => Promise<T>, i: number) => Promise<T>;
