/** `dopplerDatabaseCredentials()`: database credentials kept as secrets of a Doppler config. */
import {
  CredentialSourceError,
  checkDatabaseCredentials,
  type DatabaseCredentials,
  Redacted,
} from '@leasehold/core';
import { DOPPLER_KIND, dopplerError } from './errors.js';
import type { DopplerOptions } from './options.js';
import { canonical, createDopplerSource, type DopplerSource } from './source.js';

/** Which secrets of the config hold which part of the credentials. */
export interface DopplerDatabaseKeys {
  /** User name (default `DB_USER`). */
  username?: string;
  /** Password (default `DB_PASSWORD`). */
  password?: string;
  /** Host, if the config holds it (default: not read; the pool's own `host` is used). */
  host?: string;
  /** Port, if the config holds it (default: not read). An integer 1–65535. */
  port?: string;
  /** Database name, if the config holds it (default: not read). */
  database?: string;
}

/** Options of {@link dopplerDatabaseCredentials}. */
export interface DopplerDatabaseCredentialsOptions extends DopplerOptions {
  /** Secret names of the parts (default `{ username: 'DB_USER', password: 'DB_PASSWORD' }`). */
  keys?: DopplerDatabaseKeys;
}

const PARTS = ['username', 'password', 'host', 'port', 'database'] as const;

/**
 * A credential source of database credentials kept in a Doppler config (default secrets `DB_USER` and
 * `DB_PASSWORD`). Binding `session`: when they change, pools drain the connections opened with the old ones.
 * Every part is checked: a missing or malformed one is a `SOURCE_INVALID_RESPONSE` naming the secret, never its
 * value. The version changes only when one of the mapped secrets does.
 *
 * @example
 * ```ts
 * const lease = createSourceLease(dopplerDatabaseCredentials(), { pollIntervalMs: 60_000 });
 * const pool = createRotatingPool({ lease, host: 'db.internal', database: 'app' });
 * ```
 */
export function dopplerDatabaseCredentials(
  options?: DopplerDatabaseCredentialsOptions,
): DopplerSource<DatabaseCredentials> {
  const given = options?.keys ?? {};
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw dopplerError(
      'SOURCE_CONFIG',
      'options',
      'invalid option "keys" of dopplerDatabaseCredentials: must be an object such as { username: "DB_USER", password: "DB_PASSWORD" }.',
    );
  const keys: DopplerDatabaseKeys = { username: 'DB_USER', password: 'DB_PASSWORD', ...given };
  for (const part of Object.keys(keys)) {
    const key = keys[part as keyof DopplerDatabaseKeys];
    if (!(PARTS as readonly string[]).includes(part))
      throw dopplerError(
        'SOURCE_CONFIG',
        'options',
        `unknown key "keys.${part}" of dopplerDatabaseCredentials. Use ${PARTS.join(', ')}.`,
      );
    if (key !== undefined && (typeof key !== 'string' || key === ''))
      throw dopplerError(
        'SOURCE_CONFIG',
        'options',
        `invalid option "keys.${part}" of dopplerDatabaseCredentials: must be a secret name. Pass e.g. "DB_USER", or leave it out.`,
      );
  }
  return createDopplerSource('dopplerDatabaseCredentials', options, (secrets, name) => {
    const read = (part: (typeof PARTS)[number]): string | undefined => {
      const key = keys[part];
      if (key === undefined) return undefined;
      const value = secrets[key];
      if (value === undefined)
        throw dopplerError(
          'SOURCE_INVALID_RESPONSE',
          name,
          `the config has no secret "${key}" (the database ${part}). Add it in Doppler or map another secret with \`keys.${part}\`.`,
        );
      if (value === '' || value.includes('\u0000'))
        throw dopplerError(
          'SOURCE_INVALID_RESPONSE',
          name,
          `secret "${key}" (the database ${part}) must be a non-empty string without NUL characters.`,
        );
      return value;
    };
    const username = read('username') as string;
    const password = read('password') as string;
    const host = read('host');
    const database = read('database');
    const portText = read('port');
    let port: number | undefined;
    if (portText !== undefined) {
      port = /^\d{1,5}$/.test(portText.trim()) ? Number(portText.trim()) : Number.NaN;
      if (!(port >= 1 && port <= 65535))
        throw dopplerError(
          'SOURCE_INVALID_RESPONSE',
          name,
          `secret "${keys.port}" (the database port) must be an integer from 1 to 65535.`,
        );
    }
    const value = {
      username,
      password: Redacted.of(password),
      ...(host !== undefined ? { host } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(database !== undefined ? { database } : {}),
    };
    return {
      value: Object.freeze(checkParts(value, keys, name)),
      content: canonical([
        ['username', username],
        ['password', password],
        ['host', host],
        ['port', port],
        ['database', database],
      ]),
    };
  });
}

/**
 * The core's check of the assembled credentials (host shape, port range, …), its message completed with the
 * Doppler secret the field came from.
 */
function checkParts(value: unknown, keys: DopplerDatabaseKeys, name: string): DatabaseCredentials {
  try {
    return checkDatabaseCredentials(value, { kind: DOPPLER_KIND, name });
  } catch (error) {
    if (!CredentialSourceError.is(error)) throw error;
    const part = /"(username|password|host|port|database)"/.exec(error.message)?.[1] as
      | keyof DopplerDatabaseKeys
      | undefined;
    const key = part !== undefined ? keys[part] : undefined;
    if (key === undefined) throw error;
    throw dopplerError(
      'SOURCE_INVALID_RESPONSE',
      name,
      `secret "${key}" (the database ${part}) is not usable: ${error.message.slice(error.message.indexOf(': ') + 2)}`,
    );
  }
}
