import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/app.ts', 'src/main.ts'],
  format: ['esm'],
  dts: { entry: 'src/app.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
});
