import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/app.ts', 'src/main.ts'],
  format: ['esm'],
  // `pnpm test` builds without declarations (LEASEHOLD_DECLARATIONS=false); its one typecheck reads the sources.
  dts: process.env.LEASEHOLD_DECLARATIONS === 'false' ? false : { entry: 'src/app.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
});
