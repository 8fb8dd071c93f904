// The practical floor for a limiter, for bench/run.ts: a ring buffer of start
// functions, one promise per call, no options, no cancellation, and queued work
// run in the releaser's context (it carries no AsyncLocalStorage context).
// Plain JavaScript on purpose: the TypeScript loader the benchmarks run under
// wraps every closure created in a .ts file (to keep function names), which
// made this floor twice as slow as it is and flattered every row beside it.
export function minimalLimit(concurrency) {
  let buffer = new Array(1024);
  let mask = 1023;
  let head = 0;
  let length = 0;
  let active = 0;
  const next = () => {
    active--;
    if (length === 0) return;
    const job = buffer[head];
    buffer[head] = undefined;
    head = (head + 1) & mask;
    length--;
    job();
  };
  return (fn, i) =>
    new Promise((resolve, reject) => {
      const job = () => {
        active++;
        fn(i).then(
          (value) => {
            resolve(value);
            next();
          },
          (error) => {
            reject(error);
            next();
          },
        );
      };
      if (active < concurrency) return job();
      if (length === buffer.length) {
        const grown = new Array(buffer.length * 2);
        for (let k = 0; k < length; k++) grown[k] = buffer[(head + k) & mask];
        buffer = grown;
        mask = grown.length - 1;
        head = 0;
      }
      buffer[(head + length) & mask] = job;
      length++;
    });
}
