import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/main.ts'],
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
  // The test environment is a source-only workspace package: bundle it (its own dependencies stay external).
  noExternal: ['@leasehold/test-env'],
});
