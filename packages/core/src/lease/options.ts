/** zod schemas of the lease and cache options (validated by `createVault()` and per call). */
import { z } from 'zod';

const nonNegative = z.number().int('must be an integer').nonnegative('must be >= 0');
const positive = z.number().int('must be an integer').positive('must be > 0');

/** Schema of {@link import('./types.js').LeaseOptions}. */
export const leaseOptionsSchema = z.strictObject({
  rotationMarginMs: nonNegative.optional(),
  drainTimeoutMs: nonNegative.optional(),
  incrementSeconds: positive.optional(),
  lookupIntervalMs: nonNegative.optional(),
  retry: z.strictObject({ initialMs: positive.optional(), maxMs: positive.optional() }).optional(),
  revokeOnClose: z.boolean().optional(),
});

/** Schema of {@link import('../cache/secret-cache.js').CacheOptions}. */
export const cacheOptionsSchema = z.strictObject({
  ttlMs: nonNegative.optional(),
  staleIfErrorMs: nonNegative.optional(),
  maxEntries: positive.optional(),
});
