/**
 * The shared part of the Doppler sources: one conditional download per `fetch()` / `version()`, the last answer
 * kept so that a `304 Not Modified` costs no parsing, and a version that is a keyed hash of exactly what the source
 * returns — so an edit of an unrelated secret in the config, or a re-save with the same values, does not rotate.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { CredentialBinding, CredentialSource, SourcedValue, SourceFetchReason } from '@leasehold/core';
import { DopplerApi } from './api.js';
import { dopplerError } from './errors.js';
import { type DopplerOptions, resolveDopplerOptions } from './options.js';

/** What a source makes of the config's secrets: the value, and the text its version is computed from. */
export interface Projection<T> {
  readonly value: T;
  /** Canonical text of the value's content (secret values included: it is only ever hashed). */
  readonly content: string;
}

/** A `CredentialSource` reading a Doppler config. */
export interface DopplerSource<T> extends CredentialSource<T> {
  readonly kind: 'doppler';
  /** `session`: connections opened with a password depend on it, so the pool drains them when it rotates. */
  readonly binding: CredentialBinding;
  /**
   * One conditional download of the config's secrets (`If-None-Match`; a `304` answers the value held). Failures
   * are typed `CredentialSourceError`s naming the config, never a secret or the token.
   */
  fetch(signal: AbortSignal, reason: SourceFetchReason): Promise<SourcedValue<T>>;
}

/** Builds a source that projects the config's secrets with `project` (which throws typed errors naming keys). */
export function createDopplerSource<T>(
  fn: string,
  options: DopplerOptions | undefined,
  project: (secrets: Readonly<Record<string, string>>, name: string) => Projection<T>,
): DopplerSource<T> {
  const resolved = resolveDopplerOptions(fn, options);
  const api = new DopplerApi(resolved);
  const name = resolved.name;
  // A per-source key: versions are stable for the same content within the process, and reveal nothing of the
  // secrets (a plain hash of a weak password could be guessed offline).
  const key = randomBytes(32);
  const closing = new AbortController();
  let held: { etag: string | undefined; value: T; version: string } | undefined;

  async function read(signal: AbortSignal): Promise<{ value: T; version: string }> {
    if (closing.signal.aborted) throw dopplerError('SOURCE_CLOSED', name, 'the source is closed.');
    const previous = held;
    const answer = await api.download(AbortSignal.any([signal, closing.signal]), previous?.etag);
    if (answer.notModified) {
      if (previous === undefined)
        throw dopplerError(
          'SOURCE_INVALID_RESPONSE',
          name,
          'Doppler answered 304 Not Modified to an unconditional request.',
        );
      return previous;
    }
    const { value, content } = project(answer.secrets, name);
    const version = `hmac-sha256:${createHmac('sha256', key).update(content).digest('hex').slice(0, 32)}`;
    const next = {
      etag: answer.etag,
      value: previous?.version === version ? previous.value : value,
      version,
    };
    held = next;
    return next;
  }

  const binding: CredentialBinding = 'session';
  return {
    kind: 'doppler',
    name,
    binding,
    async fetch(signal: AbortSignal, _reason: SourceFetchReason): Promise<SourcedValue<T>> {
      const { value, version } = await read(signal);
      return { value, version };
    },
    async version(signal: AbortSignal): Promise<string> {
      return (await read(signal)).version;
    },
    close(): void {
      closing.abort(dopplerError('SOURCE_CLOSED', name, 'the source is closed.'));
    },
  };
}

/** Canonical JSON of string pairs, sorted by key. */
export function canonical(pairs: ReadonlyArray<readonly [string, string | number | undefined]>): string {
  return JSON.stringify([...pairs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
