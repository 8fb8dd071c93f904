const N = 500000;
for (let r = 0; r < 3; r++) {
  let t0 = performance.now();
  for (let i = 0; i < N; i++) { const t = setTimeout(() => {}, 1000); clearTimeout(t); }
  const timer = (performance.now() - t0) / N * 1000;
  t0 = performance.now();
  for (let i = 0; i < N; i++) await new Promise((res) => queueMicrotask(res));
  const micro = (performance.now() - t0) / N * 1000;
  t0 = performance.now();
  for (let i = 0; i < N; i++) await Promise.resolve(1).then((x) => x);
  const then = (performance.now() - t0) / N * 1000;
  console.log(`timer set+clear ${timer.toFixed(3)} µs, promise+microtask ${micro.toFixed(3)}, then ${then.toFixed(3)}`);
}
