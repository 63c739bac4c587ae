// Tests run on the TypeScript sources. Integration tests start child processes and real
// services, so files run in separate forks with generous per-test limits.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
