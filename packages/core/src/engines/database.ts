/**
 * The database secrets engine: dynamic credentials (`database/creds/:role`) as a {@link Lease}, and static-role
 * credentials (`database/static-creds/:role`) as a handle that follows Vault's password rotation.
 */
import { z } from 'zod';
import type { LeaseIssuer } from '../lease/issuer.js';
import type { IssuedSecret, LeaseSource } from '../lease/lease.js';
import { stableKey } from '../lease/manager.js';
import type { DatabaseCredentials, Lease, LeaseOptions } from '../lease/types.js';
import { Redacted } from '../redacted.js';
import { leaseFields, parseResponse, seconds } from '../validation.js';
import { checkLeaseOptions, checkName, splitMount } from './common.js';

/** Static-role credentials (`database/static-creds/:role`). */
export interface StaticDatabaseCredentials extends DatabaseCredentials {
  /** When Vault last rotated the password (RFC 3339), if it said. */
  readonly lastVaultRotation: string | undefined;
  /** Rotation period in seconds, if the role has one. */
  readonly rotationPeriod: number | undefined;
}

/** Options of {@link DatabaseEngine.credentials} / {@link DatabaseEngine.staticCredentials}. */
export interface DatabaseCredentialsOptions extends LeaseOptions {
  /** Mount of the database engine (default `database`). */
  mount?: string;
}

const credentials = z.object({
  username: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string'),
  password: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string'),
});

/** `database/creds/:role` (https://developer.hashicorp.com/vault/api-docs/secret/databases#generate-credentials). */
const dynamicAnswer = leaseFields.extend({ data: credentials });

/** `database/static-creds/:role` (https://developer.hashicorp.com/vault/api-docs/secret/databases#get-static-credentials). */
const staticAnswer = z.object({
  data: credentials.extend({
    ttl: seconds,
    last_vault_rotation: z.string({ error: 'must be an RFC 3339 time' }).optional(),
    rotation_period: seconds.optional(),
  }),
});

type CredsData = Record<string, unknown>;

/** `vault.database`. */
export class DatabaseEngine {
  readonly #issuer: LeaseIssuer;

  /** @internal */
  constructor(issuer: LeaseIssuer) {
    this.#issuer = issuer;
  }

  /**
   * Dynamic credentials of `role`, as a lease handle that renews, rotates before the max TTL, and follows
   * re-logins. The same role with the same options returns the same handle.
   *
   * @example
   * ```ts
   * const creds = vault.database.credentials('app-rw');
   * const { value } = await creds.ready();
   * const client = new pg.Client({ user: value.username, password: value.password.reveal() });
   * ```
   */
  credentials(role: string, options: DatabaseCredentialsOptions = {}): Lease<DatabaseCredentials> {
    const name = checkName(role, 'role');
    const { mount, rest } = splitMount(options, 'database', 'database.credentials');
    const leaseOptions = checkLeaseOptions(rest, 'database.credentials');
    const path = `${mount}/creds/${name}`;
    const vault = this.#issuer.vault;
    const source = (): LeaseSource<DatabaseCredentials> => ({
      path,
      kind: 'dynamic',
      async issue(signal) {
        const res = await vault.request<CredsData>('GET', path, { signal, template: `${mount}/creds/:role` });
        const env = parseResponse(dynamicAnswer, res.body, { method: 'GET', path, status: res.status });
        return {
          value: credentialsFrom(env.data),
          leaseId: env.lease_id,
          leaseDurationMs: env.lease_duration * 1000,
          renewable: env.renewable,
        } satisfies IssuedSecret<DatabaseCredentials>;
      },
    });
    return this.#issuer.lease(`db:${path}:${stableKey(leaseOptions)}`, source, leaseOptions);
  }

  /**
   * Credentials of a static role. Vault rotates the password itself; the handle re-reads it when Vault's `ttl`
   * says the rotation happened and emits `rotate` when the password changed (no lease is revoked).
   */
  staticCredentials(
    role: string,
    options: DatabaseCredentialsOptions = {},
  ): Lease<StaticDatabaseCredentials> {
    const name = checkName(role, 'role');
    const { mount, rest } = splitMount(options, 'database', 'database.staticCredentials');
    const leaseOptions = checkLeaseOptions(rest, 'database.staticCredentials');
    const path = `${mount}/static-creds/${name}`;
    const vault = this.#issuer.vault;
    const source = (): LeaseSource<StaticDatabaseCredentials> => ({
      path,
      kind: 'static',
      async issue(signal) {
        const res = await vault.request<CredsData>('GET', path, {
          signal,
          template: `${mount}/static-creds/:role`,
        });
        const { data } = parseResponse(staticAnswer, res.body, { method: 'GET', path, status: res.status });
        return {
          value: {
            ...credentialsFrom(data),
            lastVaultRotation: data.last_vault_rotation,
            rotationPeriod: data.rotation_period,
          },
          leaseId: '',
          leaseDurationMs: data.ttl * 1000,
          renewable: false,
        };
      },
      same: (a, b) =>
        a.username === b.username &&
        a.password.reveal() === b.password.reveal() &&
        a.lastVaultRotation === b.lastVaultRotation,
    });
    return this.#issuer.lease(`db-static:${path}:${stableKey(leaseOptions)}`, source, leaseOptions);
  }
}

function credentialsFrom(data: z.output<typeof credentials>): DatabaseCredentials {
  return Object.freeze({ username: data.username, password: Redacted.of(data.password) });
}
