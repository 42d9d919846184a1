// Plain JavaScript on purpose: Vitest loads config files through Node, which cannot import TypeScript from a
// linked workspace package. Types are in index.d.ts.
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';

const globalSetup = fileURLToPath(new URL('../test-env/src/global-setup.ts', import.meta.url));

/** @param {import('./index.js').LeaseholdVitestOptions} [options] */
export function defineLeaseholdConfig(options = {}) {
  const base = defineConfig({
    test: {
      environment: 'node',
      include: ['test/**/*.test.ts'],
      testTimeout: options.testTimeout ?? 30_000,
      hookTimeout: 60_000,
      teardownTimeout: 20_000,
      pool: 'forks',
      globalSetup: options.postgres ? [globalSetup] : [],
      passWithNoTests: true,
      unstubEnvs: true,
      restoreMocks: true,
    },
  });
  return options.overrides ? mergeConfig(base, options.overrides) : base;
}
