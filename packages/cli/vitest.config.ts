import { defineConfig } from 'vitest/config';

// The command's tests run real processes against local servers and measure
// them (rates, adaptive limits, crashes): one file at a time, after the
// library's suite, so that no other test competes with them for the CPU.
export default defineConfig({
  test: {
    root: new URL('.', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    // The Redis the `--redis` tests use must answer: one line saying so, if not.
    globalSetup: ['../../test/servers.setup.ts'],
    reporters: ['default', ['json', { outputFile: '../../test-results.cli.json' }]],
  },
});
