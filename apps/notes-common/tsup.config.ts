import { defineConfig } from 'tsup';
import { declarations } from '../../tooling/tsconfig/tsup.js';

export default defineConfig({
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm'],
  dts: declarations ? { entry: 'src/index.ts' } : false,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
});
