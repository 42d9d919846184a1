/**
 * Database leases end to end: the dev server's database engine on the real PostgreSQL of the test environment,
 * credentials checked continuously by logging in with them.
 */

import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createTestDatabase, type TestDatabase, withDatabase } from '@leasehold/test-env';
// Brings the typing of vitest's `inject('pgSuperuserUrl')` into this package.
import type {} from '@leasehold/test-env/global-setup';
import { type TestTier, tierTests } from '@leasehold/test-env/tier';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  auth,
  createVault,
  type DatabaseCredentials,
  type Lease,
  type LeaseSnapshot,
  type Vault,
  type VaultOptions,
} from '../../src/index.js';
import { eventually, LeakRecorder, rootClient, setupAppRole, writePolicy } from './helpers.js';

/**
 * Database leases end to end. The main tier checks a 3 s / 9 s lease for 10 s (one rotation) and a token max TTL
 * for 10 s (one re-login); the soak tier (`database.soak.test.ts`) runs them for 30 s and 20 s, and the 5 s seal.
 */
export function defineDatabaseSuite(tier: TestTier): void {
  const { soak, mainOnly, soakOnly } = tierTests(tier);
  const SHORT_LEASE_MS = soak ? 30_000 : 10_000;
  const ROTATIONS = soak ? 3 : 1;
  const TOKEN_RUN_MS = soak ? 20_000 : 10_000;
  const RELOGINS = soak ? 2 : 1;

  const recorder = new LeakRecorder();
  let db: TestDatabase;
  /** The static role's database user: unique on the server (see `TestDatabase.roleName`). */
  let staticUser: string;
  let server: DevServer;
  let root: Vault;
  const clients: Vault[] = [];

  const APP_POLICY = `
path "database/creds/*" { capabilities = ["read"] }
path "database/static-creds/*" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
`;

  function client(extra: VaultOptions = {}, on: DevServer = server): Vault {
    const vault = createVault({
      env: {},
      address: on.url,
      auth: auth.token({ token: on.rootToken }),
      logger: recorder.logger(),
      retry: { maxRetries: 1, initialDelayMs: 50, maxDelayMs: 100 },
      circuitBreaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200 },
      ...extra,
    });
    recorder.watch(vault);
    for (const event of [
      'lease:issued',
      'lease:rotated',
      'lease:revoked',
      'lease:renewed',
      'lease:expired',
    ] as const) {
      vault.on(event, (p) => recorder.lines.push(`event ${event} ${JSON.stringify(p)}`));
    }
    clients.push(vault);
    return vault;
  }

  /** Logs in to PostgreSQL with `creds`; resolves to null on success, the SQLSTATE (or message) on failure. */
  async function tryLogin(creds: DatabaseCredentials): Promise<string | null> {
    recorder.secret(creds.password.reveal());
    const c = new pg.Client({
      host: db.host,
      port: db.port,
      database: db.name,
      user: creds.username,
      password: creds.password.reveal(),
      connectionTimeoutMillis: 3000,
    });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT count(*) FROM items');
      return null;
    } catch (error) {
      return (error as { code?: string }).code ?? (error as Error).message;
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /**
   * What PostgreSQL answers revoked credentials: 28P01 (invalid_password) once the role is dropped, or 42501
   * (insufficient_privilege) when the login races the revocation statements (privileges revoked, role not yet
   * dropped). Either proves the credentials no longer work.
   */
  const REFUSED = ['28P01', '42501'];

  /** Checks, every `everyMs` for `durationMs`, that the handle's current credentials log in. */
  async function checkContinuously(
    lease: Lease<DatabaseCredentials>,
    durationMs: number,
    everyMs = 250,
    during?: (elapsedMs: number) => Promise<void> | void,
  ): Promise<{ checks: number; failures: string[] }> {
    const start = Date.now();
    const failures: string[] = [];
    let checks = 0;
    // A consumer like the pool: a check under way when the lease rotates holds the drain until it ends, so the
    // previous lease is revoked after it (the handle's contract), never under it.
    let inFlight: Promise<unknown> | undefined;
    const stopHolding = lease.on('rotated', () => inFlight);
    try {
      while (Date.now() - start < durationMs) {
        await during?.(Date.now() - start);
        const snap = lease.current();
        const check = tryLogin(snap.value);
        inFlight = check;
        const result = await check;
        inFlight = undefined;
        checks += 1;
        if (result !== null) failures.push(`t=${Date.now() - start}ms gen=${snap.generation}: ${result}`);
        await new Promise((r) => setTimeout(r, everyMs));
      }
    } finally {
      stopHolding();
    }
    return { checks, failures };
  }

  /** Mounts the database engine on `target` with the test database, the roles and the static role. */
  async function configure(target: DevServer): Promise<Vault> {
    recorder.secret(target.rootToken);
    const admin = rootClient(target);
    const su = new URL(db.superuserUrl);
    recorder.secret(decodeURIComponent(su.password));
    await admin.request('POST', 'sys/mounts/database', { body: { type: 'database' } });
    const templated = new URL(withDatabase(db.superuserUrl, db.name));
    templated.username = 'USERNAME';
    templated.password = 'PASSWORD';
    await admin.request('POST', 'database/config/pg', {
      body: {
        plugin_name: 'postgresql-database-plugin',
        connection_url: templated
          .toString()
          .replace('USERNAME', '{{username}}')
          .replace('PASSWORD', '{{password}}'),
        username: decodeURIComponent(su.username),
        password: decodeURIComponent(su.password),
        allowed_roles: '*',
      },
    });
    const creation = [
      `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
      'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";',
    ];
    const role = (name: string, ttl: string, max: string) =>
      admin.request('POST', `database/roles/${name}`, {
        body: { db_name: 'pg', creation_statements: creation, default_ttl: ttl, max_ttl: max },
      });
    await role('short', '3s', '9s');
    await role('medium', '10s', '120s');
    await role('long', '30s', '300s');
    return admin;
  }

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    await db.query('CREATE TABLE items (id int primary key)');
    server = await startDevServer();
    root = await configure(server);
    staticUser = db.roleName('static_user');
    await db.query(`CREATE ROLE ${staticUser} LOGIN PASSWORD 'initial-static-pw'`);
    await db.query(`GRANT SELECT ON items TO ${staticUser}`);
    recorder.secret('initial-static-pw');
    await root.request('POST', 'database/static-roles/fixed', {
      body: { db_name: 'pg', username: staticUser, rotation_period: '5s' },
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await root?.close();
    await server?.close();
    await db?.drop();
    expect(recorder.leaks()).toEqual([]);
  });

  // Concurrent: the tests use separate handles (the seal test its own dev server), so the soak file takes ~30 s, not ~80 s.
  describe.concurrent('database leases against the dev server and PostgreSQL', () => {
    it(`default_ttl=3s max_ttl=9s for ${SHORT_LEASE_MS / 1000} s: always valid, renewed, rotated before max TTL, previous revoked after drain`, async () => {
      const vault = client({ leases: { rotationMarginMs: 1500 } });
      const lease = vault.database.credentials('short');
      await lease.ready();
      let renewals = 0;
      lease.on('renewed', () => {
        renewals += 1;
      });
      const rotations: Array<{
        previous: LeaseSnapshot<DatabaseCredentials>;
        at: number;
        drainedAt: number;
      }> = [];
      lease.on('rotated', async ({ previous }) => {
        const entry = { previous, at: Date.now(), drainedAt: 0 };
        rotations.push(entry);
        // The previous credentials still work while we drain.
        expect(await tryLogin(previous.value)).toBeNull();
        await new Promise((r) => setTimeout(r, 300));
        entry.drainedAt = Date.now();
      });
      const revoked: Array<{ leaseId: string; at: number }> = [];
      lease.on('revoked', (e) => revoked.push({ leaseId: e.leaseId, at: Date.now() }));

      const { checks, failures } = await checkContinuously(lease, SHORT_LEASE_MS);
      expect(failures).toEqual([]);
      // a check every 250 ms plus a PostgreSQL login: at least this many even on a busy machine
      expect(checks).toBeGreaterThan(soak ? 20 : 5);
      expect(renewals).toBeGreaterThanOrEqual(ROTATIONS);
      expect(rotations.length).toBeGreaterThanOrEqual(ROTATIONS);
      for (const r of rotations) {
        // rotated before the previous lease's max TTL (issue + 9 s)
        expect(r.at).toBeLessThan(r.previous.issuedAt + 9000);
      }
      // every previous lease whose drain finished was revoked after the drain, and its role can no longer log in
      await eventually(async () => expect(revoked.length).toBeGreaterThanOrEqual(rotations.length - 1), 3000);
      for (const r of rotations.filter((x) => x.drainedAt > 0)) {
        const rev = revoked.find((x) => x.leaseId === r.previous.leaseId);
        expect(rev, `previous lease ${r.previous.generation} revoked`).toBeDefined();
        // after the drain — unless the previous lease was about to expire anyway (≤ 0.5 s + slack left)
        const at = rev?.at ?? 0;
        if (at < r.drainedAt) expect(at).toBeGreaterThanOrEqual(r.previous.expiresAt - 1000);
        expect(REFUSED).toContain(await tryLogin(r.previous.value));
      }
    }, 60_000);

    soakOnly(
      'sealed for 5 s: the current credentials stay in use and renewal resumes after unseal',
      async () => {
        // Its own dev server: sealing it must not disturb the other (concurrent) tests.
        const sealable = await startDevServer();
        const admin = await configure(sealable);
        // The grace is pinned to its lower bound (10 % of the lease = 3 s; randomness → 0): with a random 10–20 % grace
        // of up to 6 s, the LifetimeWatcher's exit rule (remaining − sleep ≤ grace) may legitimately give up renewing at
        // the end of the seal (6.5 s left) and re-issue, which is not what this test is about.
        const vault = client(
          { random: () => 0, leases: { rotationMarginMs: 1500, retry: { initialMs: 500, maxMs: 1000 } } },
          sealable,
        );
        // 30 s lease: its first renewal (⅔ of 30 s + ⅓ of the 3 s grace = 21 s after issue) falls inside the
        // seal (18.5 s → 23.5 s after issue); the rotation margin would only start at 28.5 s.
        const lease = vault.database.credentials('long');
        const first = await lease.ready();
        let sealedAt = 0;
        let unsealedAt = 0;
        const sealTimer = setTimeout(
          () => {
            sealable.seal();
            sealedAt = Date.now();
          },
          first.issuedAt + 18_500 - Date.now(),
        );
        const unsealTimer = setTimeout(
          () => {
            sealable.unseal();
            unsealedAt = Date.now();
          },
          first.issuedAt + 23_500 - Date.now(),
        );
        const renewedAt: number[] = [];
        lease.on('renewed', () => renewedAt.push(Date.now()));
        const errors: string[] = [];
        lease.on('error', (e) => errors.push(`${e.operation}:${e.error.code}`));
        const { failures } = await checkContinuously(lease, first.issuedAt + 27_000 - Date.now());
        clearTimeout(sealTimer);
        clearTimeout(unsealTimer);
        expect(failures).toEqual([]);
        expect(sealedAt).toBeGreaterThan(0);
        expect(unsealedAt).toBeGreaterThan(0);
        // The same credentials were used across the seal; renewals failed during it and resumed after.
        expect(lease.current().generation).toBe(1);
        expect(lease.current().leaseId).toBe(first.leaseId);
        expect(errors.some((e) => e.startsWith('renew:'))).toBe(true);
        expect(renewedAt.some((t) => t > unsealedAt)).toBe(true);
        expect(renewedAt.filter((t) => t > sealedAt && t < unsealedAt)).toEqual([]);
        await vault.close();
        await admin.close();
        await sealable.close();
      },
      45_000,
    );

    mainOnly(
      'a lease revoked out of band is replaced by one re-issue: found by the lookup poll, or reported by the consumer',
      async () => {
        const vault = client({ leases: { rotationMarginMs: 1500, lookupIntervalMs: 250 } });
        const lease = vault.database.credentials('medium');
        const first = await lease.ready();
        expect(await tryLogin(first.value)).toBeNull();
        const reasons: string[] = [];
        lease.on('rotated', (e) => {
          reasons.push(e.reason);
        });
        await server.revokeLease(first.leaseId);
        // The event is the thing under test; the deadline is only a guard for a busy machine.
        await eventually(async () => expect(lease.current().generation).toBe(2), 15_000, 20);
        expect(reasons).toEqual(['lease-lost']);
        expect(await tryLogin(lease.current().value)).toBeNull();
        expect(REFUSED).toContain(await tryLogin(first.value));

        // Without polling: the consumer reports the rejected credentials, one re-issue follows at once.
        const plain = client({ leases: { rotationMarginMs: 1500 } });
        const other = plain.database.credentials('medium');
        const a = await other.ready();
        await server.revokeLease(a.leaseId);
        expect(REFUSED).toContain(await tryLogin(a.value));
        const issuedBefore = server.requests({ path: 'database/creds/medium', status: 200 }).length;
        const [b, c] = await Promise.all([
          other.reissue({ ifGeneration: a.generation, reason: '28P01' }),
          other.reissue({ ifGeneration: a.generation, reason: '28P01' }),
        ]);
        expect(b?.generation).toBe(2);
        expect(c?.generation).toBe(2);
        expect(server.requests({ path: 'database/creds/medium', status: 200 })).toHaveLength(
          issuedBefore + 1,
        );
        const held = other.current().value;
        expect(await tryLogin(held)).toBeNull();
        // close() revokes what the client holds: once it returns, the role is refused.
        await plain.close();
        expect(REFUSED).toContain(await tryLogin(held));
      },
      40_000,
    );

    it(`the token's max TTL forces a re-login (${TOKEN_RUN_MS / 1000} s): leases are re-issued under the new token, none dies with the old`, async () => {
      await writePolicy(root, 'db-app', APP_POLICY);
      const creds = await setupAppRole(root, 'db-app', {
        token_policies: ['db-app'],
        token_ttl: '4s',
        token_max_ttl: '8s',
      });
      recorder.secret(creds.secretId);
      const vault = client({
        auth: recorder.recording(auth.appRole({ roleId: creds.roleId, secretId: creds.secretId })),
        leases: { rotationMarginMs: 1500 },
      });
      const logins: Array<string | undefined> = [];
      vault.on('login', (e) => logins.push(e.previousAccessor));
      const lease = vault.database.credentials('medium');
      await lease.ready();
      const reasons: string[] = [];
      lease.on('rotated', (e) => {
        reasons.push(e.reason);
      });
      const { failures } = await checkContinuously(lease, TOKEN_RUN_MS);
      expect(failures).toEqual([]);
      expect(logins.filter((p) => p !== undefined).length).toBeGreaterThanOrEqual(RELOGINS);
      expect(reasons.filter((r) => r === 'token-changed').length).toBeGreaterThanOrEqual(RELOGINS);
    }, 40_000);

    mainOnly(
      'static credentials follow Vault rotating the password',
      async () => {
        const vault = client();
        const lease = vault.database.staticCredentials('fixed');
        const first = await lease.ready();
        expect(first.value.username).toBe(staticUser);
        expect(await tryLogin(first.value)).toBeNull();
        const rotated = await new Promise<LeaseSnapshot<DatabaseCredentials>>((resolve) =>
          lease.on('rotated', (e) => resolve(e.current)),
        );
        expect(rotated.value.password.reveal()).not.toBe(first.value.password.reveal());
        expect(await tryLogin(rotated.value)).toBeNull();
        expect(REFUSED).toContain(await tryLogin(first.value));
      },
      20_000,
    );
  });
}
