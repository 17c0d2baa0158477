import { defineConfig } from 'vitest/config';

// The fast loop: logic only, no apt packages, no bundle, no registry (`npm run test:unit`).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 10_000,
    reporters: ['default', './test/support/closing-line-reporter.ts'],
  },
});
