import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // Declarations are for the published package; `pnpm test` builds without them (LEASEHOLD_DECLARATIONS=false).
  dts: process.env.LEASEHOLD_DECLARATIONS !== 'false',
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
});
