import { errorFromResponse } from '../../src/errors.js';
import {
  type Transport,
  type TransportRequestOptions,
  type VaultEnvelope,
  VaultError,
  type VaultMethod,
  type VaultResponse,
} from '../../src/index.js';
import type { ManualClock } from './manual-clock.js';

interface FakeToken {
  id: string;
  accessor: string;
  issuedAt: number;
  expiresAt: number;
  maxEnd: number;
  ttlMs: number;
  renewable: boolean;
  revoked: boolean;
}

export interface FakeCall {
  method: VaultMethod;
  path: string;
  token: string | undefined;
  body: unknown;
}

/**
 * An in-memory stand-in for Vault's token store, injected as the `Transport` of unit tests (time from a
 * ManualClock). Logins at `auth/approle/login` issue tokens with `ttlMs`/`maxTtlMs`; `renew-self` follows
 * Vault's CalculateTTL (now + increment, capped at issue + max with the capped warning).
 */
export class FakeVaultTransport implements Transport {
  readonly calls: FakeCall[] = [];
  readonly tokens = new Map<string, FakeToken>();
  ttlMs = 2000;
  maxTtlMs = 6000;
  renewable = true;
  /** When set, logins fail with this status/errors. */
  loginFailure: { status: number; errors: string[] } | undefined;
  /** When set, everything fails as unreachable. */
  down = false;
  /** Artificial latency for logins (resolved via real microtasks, not time). */
  loginGate: Promise<void> | undefined;
  #seq = 0;
  closed = false;

  constructor(readonly clock: ManualClock) {}

  count(path: string): number {
    return this.calls.filter((c) => c.path === path).length;
  }

  issue(): FakeToken {
    const now = this.clock.now();
    this.#seq += 1;
    const t: FakeToken = {
      id: `hvs.FAKE-TOKEN-${this.#seq}-secretvalue`,
      accessor: `accessor-${this.#seq}`,
      issuedAt: now,
      expiresAt: now + this.ttlMs,
      maxEnd: now + this.maxTtlMs,
      ttlMs: this.ttlMs,
      renewable: this.renewable,
      revoked: false,
    };
    this.tokens.set(t.id, t);
    return t;
  }

  revokeOutOfBand(accessor: string): void {
    for (const t of this.tokens.values()) if (t.accessor === accessor) t.revoked = true;
  }

  async request<TBody = VaultEnvelope>(
    method: VaultMethod,
    path: string,
    options: TransportRequestOptions = {},
  ): Promise<VaultResponse<TBody>> {
    const token = options.token?.reveal();
    this.calls.push({ method, path, token, body: options.body });
    if (this.down) {
      throw new VaultError('VAULT_UNAVAILABLE', `${method} ${path} could not reach Vault: ECONNREFUSED`, {
        method,
        path,
      });
    }
    const now = this.clock.now();
    const fail = (status: number, errors: string[]): never => {
      throw errorFromResponse(status, errors, method, path);
    };
    const ok = (body: Partial<VaultEnvelope>): VaultResponse<TBody> => ({
      status: 200,
      headers: {},
      body: {
        request_id: 'r',
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: null,
        wrap_info: null,
        warnings: null,
        auth: null,
        ...body,
      } as TBody,
    });
    if (path === 'auth/approle/login') {
      if (this.loginGate) await this.loginGate;
      if (this.loginFailure) fail(this.loginFailure.status, this.loginFailure.errors);
      const t = this.issue();
      return ok({
        auth: {
          client_token: t.id,
          accessor: t.accessor,
          policies: ['default', 'app'],
          metadata: null,
          lease_duration: Math.floor(t.ttlMs / 1000),
          renewable: t.renewable,
        },
      });
    }
    const current = token ? this.tokens.get(token) : undefined;
    if (!current || current.revoked || current.expiresAt <= now) {
      fail(403, ['permission denied', 'invalid token']);
    }
    const t = current as FakeToken;
    switch (path) {
      case 'auth/token/renew-self': {
        if (!t.renewable) fail(400, ['lease is not renewable']);
        if (now >= t.maxEnd) fail(400, ['past the max TTL, cannot renew']);
        const inc = ((options.body as { increment?: number })?.increment ?? t.ttlMs / 1000) * 1000;
        let ttl = inc;
        const warnings: string[] = [];
        if (now + ttl > t.maxEnd) {
          ttl = t.maxEnd - now;
          warnings.push(
            `TTL of "${inc / 1000}s" exceeded the effective max_ttl of "${Math.floor(ttl / 1000)}s"; TTL value is capped accordingly`,
          );
        }
        t.expiresAt = now + ttl;
        return ok({
          warnings: warnings.length ? warnings : null,
          auth: {
            client_token: t.id,
            accessor: t.accessor,
            policies: ['default', 'app'],
            metadata: null,
            lease_duration: Math.floor(ttl / 1000),
            renewable: true,
          },
        });
      }
      case 'auth/token/revoke-self':
        t.revoked = true;
        return { status: 204, headers: {}, body: undefined };
      case 'auth/token/lookup-self':
        return ok({
          data: {
            accessor: t.accessor,
            ttl: Math.floor((t.expiresAt - now) / 1000),
            renewable: t.renewable,
            policies: ['default'],
          },
        });
      case 'secret/data/app':
        return ok({ data: { data: { password: 'db-password-value' } } });
      case 'secret/data/forbidden':
        return fail(403, ['1 error occurred:\n\t* permission denied\n\n']);
      default:
        return fail(404, []);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
