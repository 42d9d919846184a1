import type { ViteUserConfig, ViteUserConfigFnObject } from 'vitest/config';

export interface LeaseholdVitestOptions {
  /** Start (or reuse, via `LEASEHOLD_TEST_PG_URL`) the test PostgreSQL and provide `pgSuperuserUrl`. */
  postgres?: boolean;
  /** Per-test timeout in ms, a guard against a hung test (integration tests with real TTLs need more than Vitest's 5 s). Default 60 000. */
  testTimeout?: number;
  /** Extra Vitest/Vite configuration merged over the preset. */
  overrides?: ViteUserConfig;
}

/**
 * The workspace's Vitest preset: node environment, forked workers, optional test PostgreSQL. `vitest run` runs
 * `test/**\/*.test.ts` but not the soak files (`*.soak.test.ts`, `test/soak/`); `vitest run --mode soak` runs only the
 * soak files. No test files is an error. Type tests (`test/**\/*.test-d.ts`) are checked by `pnpm typecheck`.
 */
export declare function defineLeaseholdConfig(options?: LeaseholdVitestOptions): ViteUserConfigFnObject;
