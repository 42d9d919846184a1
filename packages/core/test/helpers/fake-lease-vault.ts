import { errorFromResponse } from '../../src/errors.js';
import type {
  Transport,
  TransportRequestOptions,
  VaultEnvelope,
  VaultMethod,
  VaultResponse,
} from '../../src/index.js';
import { FakeVaultTransport } from './fake-transport.js';
import type { ManualClock } from './manual-clock.js';

export interface FakeLease {
  id: string;
  role: string;
  username: string;
  password: string;
  issuedAt: number;
  expiresAt: number;
  maxEnd: number;
  renewable: boolean;
  revoked: boolean;
  /** Token (id) that created it. */
  token: string;
}

/**
 * Vault's lease store on top of the token fake: `database/creds/:role` issues leases (default_ttl / max_ttl
 * per role), `sys/leases/renew|revoke|lookup` follow Vault (CalculateTTL from the original issue time and the
 * capped-TTL warning: https://github.com/hashicorp/vault/blob/main/sdk/framework/lease.go; `lease not found`,
 * revoke of unknown → 204, lookup of unknown → 400 `invalid lease`:
 * https://github.com/hashicorp/vault/blob/main/vault/expiration.go and
 * https://github.com/hashicorp/vault/blob/main/vault/logical_system.go). A lease dies with the token that created
 * it. Also `database/static-creds/:role` and `pki/issue/:role`.
 */
export class FakeLeaseVault implements Transport {
  readonly inner: FakeVaultTransport;
  readonly leases = new Map<string, FakeLease>();
  roles = new Map<string, { ttlMs: number; maxTtlMs: number; renewable: boolean }>([
    ['app', { ttlMs: 3000, maxTtlMs: 9000, renewable: true }],
  ]);
  staticPassword = 'static-password-1';
  staticTtl = 10;
  certTtlMs = 6000;
  /** Paths that fail with the given status/errors (count: how many times; undefined = forever). */
  failures = new Map<string, { status: number; errors: string[]; count?: number }>();
  /** When set, lease issue requests wait on it. */
  issueGate: Promise<void> | undefined;
  /** When set, revocations wait on it. */
  revokeGate: Promise<void> | undefined;
  #seq = 0;

  constructor(readonly clock: ManualClock) {
    this.inner = new FakeVaultTransport(clock);
    this.inner.ttlMs = 3_600_000;
    this.inner.maxTtlMs = 7_200_000;
  }

  get calls() {
    return this.inner.calls;
  }

  set down(value: boolean) {
    this.inner.down = value;
  }

  count(path: string | RegExp): number {
    return this.inner.calls.filter((c) => (typeof path === 'string' ? c.path === path : path.test(c.path)))
      .length;
  }

  /** Whether a lease is alive now (not revoked, not expired, its token alive). */
  alive(id: string): boolean {
    const l = this.leases.get(id);
    if (!l || l.revoked || l.expiresAt <= this.clock.now()) return false;
    const t = this.inner.tokens.get(l.token);
    return t !== undefined && !t.revoked && t.expiresAt > this.clock.now();
  }

  revokeOutOfBand(id: string): void {
    const l = this.leases.get(id);
    if (l) l.revoked = true;
  }

  async request<TBody = VaultEnvelope>(
    method: VaultMethod,
    path: string,
    options: TransportRequestOptions = {},
  ): Promise<VaultResponse<TBody>> {
    const isLeasePath = /^(database|pki)\//.test(path) || path.startsWith('sys/leases/');
    if (!isLeasePath) return this.inner.request<TBody>(method, path, options);
    const token = options.token?.reveal();
    this.inner.calls.push({ method, path, token, body: options.body });
    if (this.inner.down) {
      const { VaultError } = await import('../../src/index.js');
      throw new VaultError('VAULT_UNAVAILABLE', `${method} ${path} could not reach Vault: ECONNREFUSED`, {
        method,
        path,
      });
    }
    const fail = (status: number, errors: string[]): never => {
      throw errorFromResponse(status, errors, method, path);
    };
    const injected = this.failures.get(path);
    if (injected) {
      if (injected.count !== undefined) {
        injected.count -= 1;
        if (injected.count <= 0) this.failures.delete(path);
      }
      fail(injected.status, injected.errors);
    }
    const now = this.clock.now();
    const t = token ? this.inner.tokens.get(token) : undefined;
    if (!t || t.revoked || t.expiresAt <= now) fail(403, ['permission denied', 'invalid token']);
    const ok = (body: Partial<VaultEnvelope>, status = 200): VaultResponse<TBody> => ({
      status,
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
    const body = (options.body ?? {}) as { lease_id?: string; increment?: number };
    let m = /^database\/creds\/([^/]+)$/.exec(path);
    if (m) {
      if (this.issueGate) await this.issueGate;
      const role = this.roles.get(m[1] as string);
      if (!role) return fail(400, [`unknown role: ${m[1]}`]);
      this.#seq += 1;
      const lease: FakeLease = {
        id: `${path}/LEASE${String(this.#seq).padStart(20, '0')}`,
        role: m[1] as string,
        username: `v-token-${m[1]}-${this.#seq}`,
        password: `pw-secret-${this.#seq}-value`,
        issuedAt: now,
        expiresAt: now + role.ttlMs,
        maxEnd: now + role.maxTtlMs,
        renewable: role.renewable,
        revoked: false,
        token: token as string,
      };
      this.leases.set(lease.id, lease);
      return ok({
        lease_id: lease.id,
        lease_duration: Math.floor(role.ttlMs / 1000),
        renewable: role.renewable,
        data: { username: lease.username, password: lease.password },
      });
    }
    m = /^database\/static-creds\/([^/]+)$/.exec(path);
    if (m) {
      return ok({
        data: {
          username: 'static-user',
          password: this.staticPassword,
          last_vault_rotation: `rot-${this.staticPassword}`,
          rotation_period: 10,
          ttl: this.staticTtl,
        },
      });
    }
    m = /^pki\/issue\/([^/]+)$/.exec(path);
    if (m) {
      this.#seq += 1;
      return ok({
        data: {
          certificate: `-----BEGIN CERTIFICATE-----\nCERT${this.#seq}\n-----END CERTIFICATE-----`,
          private_key: `-----BEGIN PRIVATE KEY-----\nKEY-secret-${this.#seq}\n-----END PRIVATE KEY-----`,
          private_key_type: 'ec',
          issuing_ca: 'CA',
          ca_chain: ['CA'],
          serial_number: `00:${this.#seq}`,
          expiration: Math.floor((now + this.certTtlMs) / 1000),
        },
      });
    }
    const lease = body.lease_id ? this.leases.get(body.lease_id) : undefined;
    const known = lease && !lease.revoked && this.alive(lease.id);
    switch (path) {
      case 'sys/leases/renew': {
        if (!lease || !known) return fail(400, ['lease not found']);
        if (!lease.renewable) return fail(400, ['lease is not renewable']);
        if (now >= lease.maxEnd) return fail(400, ['past the max TTL, cannot renew']);
        const inc = (body.increment ?? 0) * 1000 || (this.roles.get(lease.role)?.ttlMs ?? 0);
        let ttl = inc;
        const warnings: string[] = [];
        if (now + ttl > lease.maxEnd) {
          ttl = lease.maxEnd - now;
          warnings.push(
            `TTL of "${inc / 1000}s" exceeded the effective max_ttl of "${Math.floor(ttl / 1000)}s"; TTL value is capped accordingly`,
          );
        }
        lease.expiresAt = now + ttl;
        return ok({
          lease_id: lease.id,
          renewable: true,
          lease_duration: Math.floor(ttl / 1000),
          warnings: warnings.length > 0 ? warnings : null,
        });
      }
      case 'sys/leases/revoke':
        if (this.revokeGate) await this.revokeGate;
        if (lease) lease.revoked = true;
        return { status: 204, headers: {}, body: undefined };
      case 'sys/leases/lookup':
        if (!lease || !known) return fail(400, ['invalid lease']);
        return ok({
          data: {
            id: lease.id,
            renewable: lease.renewable,
            ttl: Math.floor((lease.expiresAt - now) / 1000),
            issue_time: '',
            expire_time: '',
            last_renewal: null,
          },
        });
      default:
        return fail(404, []);
    }
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}
