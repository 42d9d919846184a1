import { defineConfig } from 'tsup';
import { declarations } from '../../tooling/tsconfig/tsup.js';

export default defineConfig({
  entry: ['src/app.ts', 'src/main.ts'],
  format: ['esm'],
  dts: declarations ? { entry: 'src/app.ts' } : false,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
});
