import { type BackendFactory, defineBackend, errorResponse } from '@leasehold/dev-server';

/** A role of {@link credsEngine}: the lease it hands out (seconds, as a Vault role's `default_ttl`/`max_ttl`). */
export interface CredsRole {
  ttl: number;
  maxTtl: number;
  renewable: boolean;
  /** `false`: the secret comes without a lease (`lease_id` "", `lease_duration` 0), as a secret without a TTL. */
  leased?: boolean;
}

/** What a test controls and observes of a mounted {@link credsEngine}. */
export interface CredsEngineState {
  /** Roles by name; a test may change them between issues. */
  roles: Map<string, CredsRole>;
  /** The static role `svc`'s current password (an operator's rotation changes it). */
  staticPassword: string;
  /** Usernames whose lease the server revoked (on revoke, on expiry and with their token). */
  revoked: Set<string>;
}

/**
 * A light secrets engine for lease tests, mounted where the client looks for the database engine: `creds/:role`
 * hands out leased username/password pairs with the role's TTLs (the lease itself — renewal, `CalculateTTL`
 * capping, expiry, revocation, lookup — is the dev server's own), and `static-creds/:role` answers a static role
 * with a rotation period of 10 s. No PostgreSQL: the lease rules under test do not depend on what the secret is.
 */
export function credsEngine(state: CredsEngineState): BackendFactory {
  return () => {
    let seq = 0;
    return defineBackend({
      type: 'test-creds',
      paths: [
        {
          pattern: 'creds/:role',
          operations: {
            read: async (_request, { role = '' }) => {
              const spec = state.roles.get(role);
              if (!spec) throw errorResponse(`unknown role: ${role}`);
              seq += 1;
              const username = `v-token-${role}-${seq}`;
              const data = { username, password: `pw-secret-${seq}-value` };
              if (spec.leased === false) return { data };
              return {
                data,
                secret: {
                  ttl: spec.ttl,
                  maxTtl: spec.maxTtl,
                  renewable: spec.renewable,
                  internal: { username },
                },
              };
            },
          },
        },
        {
          pattern: 'static-creds/:role',
          operations: {
            read: async (_request, { role = '' }) => {
              if (role !== 'svc') throw errorResponse(`unknown role: ${role}`);
              return {
                data: {
                  username: 'static-user',
                  password: state.staticPassword,
                  last_vault_rotation: `rot-${state.staticPassword}`,
                  rotation_period: 10,
                  ttl: 10,
                },
              };
            },
          },
        },
      ],
      revokeSecret: async (lease) => {
        state.revoked.add(String(lease.internal.username));
      },
    });
  };
}
