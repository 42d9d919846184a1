// Plain JavaScript on purpose: Vitest loads config files through Node, which cannot import TypeScript from a
// linked workspace package. Types are in index.d.ts.
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';

const globalSetup = fileURLToPath(new URL('../test-env/src/global-setup.ts', import.meta.url));

/** Long real-time runs (many rotations, long seals, outage drills): `vitest run --mode soak` (`pnpm test:soak`). */
const SOAK_FILES = ['test/**/*.soak.test.ts', 'test/soak/**/*.test.ts'];

/** Files run at once per package: `LEASEHOLD_TEST_WORKERS` (a positive integer) or 3. */
function workers() {
  const raw = process.env.LEASEHOLD_TEST_WORKERS;
  if (raw === undefined || raw === '') return 3;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(
      `LEASEHOLD_TEST_WORKERS must be a positive integer (got "${raw}"); unset it for the default of 3.`,
    );
  }
  return n;
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
        // Type tests (`test/**/*.test-d.ts`, `expectTypeOf` / `assertType`) are not run here: they are part of the
        // one TypeScript program of `pnpm typecheck` (the root tsconfig.json), where a failed expectation is a
        // compile error. Checking them again per package cost a second full type-check of each package.
        testTimeout: options.testTimeout ?? 60_000,
        hookTimeout: 60_000,
        teardownTimeout: 20_000,
        pool: 'forks',
        // Test files share their worker's module cache instead of re-importing every module per file (which cost
        // about three times the CPU of the tests themselves). Each file still builds its own clients, servers and
        // databases, Vitest restores stubbed env vars and mocks after every test, and no package keeps module-level
        // state that a test mutates.
        isolate: false,
        // Most files wait on real I/O (PostgreSQL, HTTP) rather than compute, so a few files run at once even on a
        // small machine: `LEASEHOLD_TEST_WORKERS` overrides it (1 runs the files one after another).
        maxWorkers: workers(),
        globalSetup: options.postgres ? [globalSetup] : [],
        // The built workspace packages a test imports (`@leasehold/core` from the pg tests, the dev server from every
        // integration test) load as what they are, plain JavaScript, through Node — not through Vite's transform
        // pipeline, which treats a linked workspace package as source (it is not under node_modules) and re-transformed
        // them in every worker: for the Express package, 8.7 s of transform and 20.5 s of import became 2.1 s and 8.9 s.
        server: { deps: { external: [/\/packages\/[^/]+\/dist\//] } },
        unstubEnvs: true,
        restoreMocks: true,
      },
    });
    return options.overrides ? mergeConfig(base, options.overrides) : base;
  });
}
