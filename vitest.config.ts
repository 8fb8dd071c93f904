import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fake timers everywhere time matters; the helpers in test/helpers.ts install them.
    testTimeout: 20_000,
    // The Redis and PostgreSQL the tests use must answer: one line saying which, if not.
    globalSetup: ['test/servers.setup.ts'],
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
