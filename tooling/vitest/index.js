// Plain JavaScript on purpose: Vitest loads config files through Node, which cannot import TypeScript from a
// linked workspace package. Types are in index.d.ts.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';

const globalSetup = fileURLToPath(new URL('../test-env/src/global-setup.ts', import.meta.url));

/** Long real-time runs (many rotations, long seals, outage drills): `vitest run --mode soak` (`pnpm test:soak`). */
const SOAK_FILES = ['test/**/*.soak.test.ts', 'test/soak/**/*.test.ts'];
/** Type tests (`expectTypeOf` / `assertType`), checked by `tsc` as part of `vitest run`. */
const TYPE_TEST_FILES = ['test/**/*.test-d.ts'];

/** Whether `dir` holds a file whose name ends with `suffix` (recursively). */
function hasFile(dir, suffix) {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { recursive: true }).some((name) => String(name).endsWith(suffix));
}

/** @param {import('./index.js').LeaseholdVitestOptions} [options] */
export function defineLeaseholdConfig(options = {}) {
  return defineConfig(({ mode }) => {
    const soak = mode === 'soak';
    const base = defineConfig({
      test: {
        environment: 'node',
        include: soak ? SOAK_FILES : ['test/**/*.test.ts'],
        exclude: soak ? configDefaults.exclude : [...configDefaults.exclude, ...SOAK_FILES],
        // A package with no tests (or a tier with no files) is an error, not a pass.
        passWithNoTests: false,
        typecheck: {
          enabled: !soak && hasFile(join(process.cwd(), 'test'), '.test-d.ts'),
          include: TYPE_TEST_FILES,
        },
        testTimeout: options.testTimeout ?? 30_000,
        hookTimeout: 60_000,
        teardownTimeout: 20_000,
        pool: 'forks',
        globalSetup: options.postgres ? [globalSetup] : [],
        unstubEnvs: true,
        restoreMocks: true,
      },
    });
    return options.overrides ? mergeConfig(base, options.overrides) : base;
  });
}
