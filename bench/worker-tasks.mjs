// Tasks for bench/workers.ts, used by every pool.
export default function echo(value) {
  return value;
}
export function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
