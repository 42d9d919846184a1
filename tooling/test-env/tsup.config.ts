import { defineConfig } from 'tsup';

// Only what `pnpm test` (tooling/test-env/bin/test-main.mjs) imports from plain JavaScript: it starts the one
// PostgreSQL its packages share. Test files import the TypeScript sources (the package's exports) through Vitest.
export default defineConfig({
  entry: ['src/postgres.ts'],
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
});
