/** `dopplerSecrets()`: the secrets of a Doppler config (or some of them) as a key/value settings source. */
import { Redacted } from '@leasehold/core';
import { dopplerError } from './errors.js';
import type { DopplerOptions } from './options.js';
import { canonical, createDopplerSource, type DopplerSource } from './source.js';

/** Options of {@link dopplerSecrets}. */
export interface DopplerSecretsOptions extends DopplerOptions {
  /**
   * Only these secrets (default: every secret of the config). Each must exist: a missing one is a
   * `SOURCE_INVALID_RESPONSE` naming it.
   */
  keys?: readonly string[];
}

/** A config's secrets: name → value (`Redacted`). */
export type DopplerSecrets = Readonly<Record<string, Redacted<string>>>;

/**
 * A credential source of a Doppler config's secrets (all, or `keys`), read with one conditional request
 * (`ETag` / `If-None-Match`) per poll. Binding `session`. Feed it to `createSourceLease()`.
 *
 * @example
 * ```ts
 * const settings = createSourceLease(dopplerSecrets({ keys: ['STRIPE_KEY'] }), { pollIntervalMs: 60_000 });
 * const { value } = await settings.ready();
 * stripe.setApiKey(value.STRIPE_KEY.reveal());
 * ```
 */
export function dopplerSecrets(options?: DopplerSecretsOptions): DopplerSource<DopplerSecrets> {
  const keys = options?.keys;
  if (keys !== undefined && (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k === '')))
    throw dopplerError(
      'SOURCE_CONFIG',
      'options',
      'invalid option "keys" of dopplerSecrets: must be an array of secret names. Pass e.g. ["API_KEY"], or leave it out for all.',
    );
  return createDopplerSource('dopplerSecrets', options, (secrets, name) => {
    const names = keys ?? Object.keys(secrets);
    const value = Object.create(null) as Record<string, Redacted<string>>;
    const pairs: Array<[string, string]> = [];
    for (const key of names) {
      const secret = secrets[key];
      if (secret === undefined)
        throw dopplerError(
          'SOURCE_INVALID_RESPONSE',
          name,
          `the config has no secret "${key}" (listed in \`keys\`). Add it in Doppler or remove it from \`keys\`.`,
        );
      value[key] = Redacted.of(secret);
      pairs.push([key, secret]);
    }
    return { value: Object.freeze(value), content: canonical(pairs) };
  });
}
