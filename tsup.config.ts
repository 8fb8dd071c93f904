import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'compat/p-limit': 'src/compat/p-limit.ts',
    'compat/p-queue': 'src/compat/p-queue.ts',
    'redis/index': 'src/redis/index.ts',
    'otel/index': 'src/otel/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  // No source maps: the output is not minified and keeps the names, the doc
  // comments and a marker of each source file, so a stack trace into dist reads
  // as it is (maps, which pointed at sources the tarball does not ship, were 62% of it).
  sourcemap: false,
  target: 'node20',
  splitting: true,
  treeshake: true,
});
