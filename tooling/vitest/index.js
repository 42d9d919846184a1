// Plain JavaScript on purpose: Vitest loads config files through Node, which cannot import TypeScript from a
// linked workspace package. Types are in index.d.ts.
import { readdirSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';

const globalSetup = fileURLToPath(new URL('../test-env/src/global-setup.ts', import.meta.url));

/** Long real-time runs (many rotations, long seals, outage drills): `vitest run --mode soak` (`pnpm test:soak`). */
const SOAK_FILES = ['test/**/*.soak.test.ts', 'test/soak/**/*.test.ts'];

/**
 * Files run at once per package: `LEASEHOLD_TEST_WORKERS` (a positive integer), or one worker per three test files
 * of the run (`files`: the main tier's count; the soak tier passes Infinity), at most three. Each worker loads
 * Vitest and the package's imports once (1–1.5 CPU-s on a small machine), which a package of one to three files
 * does not win back by running them side by side while other packages' runs keep the cores busy; the packages with
 * many files, which wait on real time, keep three.
 */
function workers(files) {
  const raw = process.env.LEASEHOLD_TEST_WORKERS;
  if (raw === undefined || raw === '') return Math.min(3, Math.max(1, Math.ceil(files / 3)));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(
      `LEASEHOLD_TEST_WORKERS must be a positive integer (got "${raw}"); unset it for the default (one per three test files, at most 3).`,
    );
  }
  return n;
}

/**
 * The main tier's test files of the package Vitest runs in (its working directory): `test/**\/*.test.ts` without the
 * soak files ({@link SOAK_FILES}).
 */
function countMainTestFiles() {
  let files;
  try {
    files = readdirSync('test', { recursive: true, encoding: 'utf8' });
  } catch {
    return 0;
  }
  return files.filter(
    (file) => file.endsWith('.test.ts') && !file.endsWith('.soak.test.ts') && !file.startsWith(`soak${sep}`),
  ).length;
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
        // Most files wait on real I/O (PostgreSQL, HTTP) rather than compute, so a package with many files runs a few
        // at once even on a small machine (see workers()): `LEASEHOLD_TEST_WORKERS` overrides it (1 runs the files one
        // after another).
        // The soak tier's files are long real-time runs that barely use the CPU: each package runs three at once.
        maxWorkers: workers(soak ? Number.POSITIVE_INFINITY : countMainTestFiles()),
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
