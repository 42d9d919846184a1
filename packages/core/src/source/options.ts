/**
 * Checks of {@link createSourceLease}'s arguments. Mistakes are `SOURCE_CONFIG` {@link CredentialSourceError}s
 * naming the option and the fix, built with the core's `parseOptions()` (the same messages as every other option
 * of the library: the option path and what it must be, never the value).
 */
import { z } from 'zod';
import { VaultError } from '../errors.js';
import { nonNegativeInt, parseOptions, positiveInt } from '../validation.js';
import { CredentialSourceError, type SourceRef } from './errors.js';
import type { CredentialSource, SourceLeaseOptions } from './types.js';

const FN = 'createSourceLease';

const fn = (message: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message });

/** Schema of {@link SourceLeaseOptions}. */
export const sourceLeaseOptionsSchema = z.strictObject({
  pollIntervalMs: nonNegativeInt.optional(),
  refreshMarginMs: nonNegativeInt.optional(),
  drainTimeoutMs: nonNegativeInt.optional(),
  retry: z.strictObject({ initialMs: positiveInt.optional(), maxMs: positiveInt.optional() }).optional(),
  clock: z
    .object({
      now: fn('must be a Clock ({ now, setTimeout, clearTimeout })'),
      setTimeout: fn('must be a Clock ({ now, setTimeout, clearTimeout })'),
      clearTimeout: fn('must be a Clock ({ now, setTimeout, clearTimeout })'),
    })
    .passthrough()
    .optional(),
  random: fn('must be a function returning a number in [0, 1)').optional(),
  logger: z
    .object({
      debug: fn('must be a pino-compatible logger'),
      info: fn('must be a pino-compatible logger'),
      warn: fn('must be a pino-compatible logger'),
      error: fn('must be a pino-compatible logger'),
    })
    .passthrough()
    .optional(),
  events: z
    .object({ emit: fn('must have an emit(event, payload) method (e.g. a Vault client)') })
    .passthrough()
    .optional(),
});

const sourceSchema = z.object({
  kind: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string'),
  name: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string'),
  binding: z.enum(['session', 'login'], { error: 'must be "session" or "login"' }),
  fetch: fn('must be a function fetch(signal, reason)'),
  version: fn('must be a function version(signal), or absent').optional(),
  close: fn('must be a function close(), or absent').optional(),
});

function toSourceError(error: unknown, source: SourceRef): never {
  if (VaultError.is(error)) {
    throw new CredentialSourceError('SOURCE_CONFIG', error.message, { source, retryable: false });
  }
  throw error;
}

function refOf(source: unknown): SourceRef {
  const s = (typeof source === 'object' && source !== null ? source : {}) as Partial<SourceRef>;
  return {
    kind: typeof s.kind === 'string' && s.kind ? s.kind : 'unknown-source',
    name: typeof s.name === 'string' && s.name ? s.name : '?',
  };
}

/** Throws `SOURCE_CONFIG` unless `source` has the shape of a {@link CredentialSource}. */
export function checkSource(source: unknown): asserts source is CredentialSource<unknown> {
  try {
    parseOptions(
      sourceSchema,
      source,
      `${FN}(source)`,
      'Pass a CredentialSource: { kind, name, binding, fetch(signal, reason), version?(signal), close?() } — e.g. from @leasehold/aws or @leasehold/doppler.',
    );
  } catch (error) {
    toSourceError(error, refOf(source));
  }
}

/** Checks {@link SourceLeaseOptions}; throws `SOURCE_CONFIG` naming the option and the fix. */
export function parseSourceLeaseOptions(options: unknown, source: SourceRef): SourceLeaseOptions {
  try {
    const parsed = parseOptions(
      sourceLeaseOptionsSchema,
      options ?? {},
      FN,
      'See SourceLeaseOptions in the @leasehold/core README ("Credential sources").',
    );
    const retry = parsed.retry;
    if (retry?.initialMs !== undefined && retry.maxMs !== undefined && retry.initialMs > retry.maxMs) {
      throw new CredentialSourceError(
        'SOURCE_CONFIG',
        `Invalid options: ${FN}.retry.initialMs must not exceed ${FN}.retry.maxMs. Lower initialMs or raise maxMs.`,
        { source, retryable: false },
      );
    }
    return options as SourceLeaseOptions;
  } catch (error) {
    return toSourceError(error, source);
  }
}
