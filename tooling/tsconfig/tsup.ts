/**
 * The shared tsup build of the workspace, imported by relative path from each package's `tsup.config.ts` (tsup
 * bundles a config file with what it imports, so this TypeScript needs no build of its own).
 */
import { defineConfig, type Options } from 'tsup';

/**
 * Whether to emit declarations. They are for the published package; `pnpm test` builds without them
 * (`LEASEHOLD_DECLARATIONS=false`: esbuild only), and its one type-check reads the sources instead.
 */
export const declarations = process.env.LEASEHOLD_DECLARATIONS !== 'false';

/**
 * A published package: `src/index.ts` as ESM and CommonJS for Node 20, with source maps and (see
 * {@link declarations}) declarations. `overrides` replace these settings (entries, splitting, externals, …).
 */
export function libraryConfig(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: declarations,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: false,
    ...overrides,
  });
}
