import { it } from 'vitest';

/**
 * The test tier a shared suite is registered for: `main` (`pnpm test`: a short smoke of each long run) or `soak`
 * (`pnpm test:soak`, files named `*.soak.test.ts`: the full real-time runs).
 */
export type TestTier = 'main' | 'soak';

/** What a suite shared by `x.test.ts` and `x.soak.test.ts` needs to register its tests per tier. */
export interface TierTests {
  /** Whether this is the soak tier. */
  soak: boolean;
  /** `it` in the main tier; registers nothing in the soak tier (tests that are not long runs). */
  mainOnly: typeof it;
  /** `it` in the soak tier; registers nothing in the main tier (long runs with no shorter form). */
  soakOnly: typeof it;
}

const none = (() => undefined) as unknown as typeof it;

/** `it` variants for `tier`: see {@link TierTests}. */
export function tierTests(tier: TestTier): TierTests {
  const soak = tier === 'soak';
  return { soak, mainOnly: soak ? none : it, soakOnly: soak ? it : none };
}
