/** zod schemas of the lease and cache options (validated by `createVault()` and per call). */
import { z } from 'zod';

import {
  abortSignal,
  nonNegativeInt as nonNegative,
  positiveInt as positive,
  strictBoolean,
} from '../validation.js';

/** Schema of {@link import('./types.js').LeaseOptions}. */
export const leaseOptionsSchema = z.strictObject({
  rotationMarginMs: nonNegative.optional(),
  drainTimeoutMs: nonNegative.optional(),
  incrementSeconds: positive.optional(),
  lookupIntervalMs: nonNegative.optional(),
  retry: z.strictObject({ initialMs: positive.optional(), maxMs: positive.optional() }).optional(),
  revokeOnClose: strictBoolean.optional(),
});

/** Schema of {@link import('../cache/secret-cache.js').CacheOptions}. */
export const cacheOptionsSchema = z.strictObject({
  ttlMs: nonNegative.optional(),
  staleIfErrorMs: nonNegative.optional(),
  maxEntries: positive.optional(),
});

/** Schema of {@link import('./types.js').LeaseReadyOptions}. */
export const leaseReadyOptionsSchema = z.strictObject({
  timeoutMs: positive.optional(),
  signal: abortSignal.optional(),
});
