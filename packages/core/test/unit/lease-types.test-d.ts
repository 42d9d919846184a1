/** Compile-time contract of leases: what `vault.database` and `vault.pki` hand out, and what a snapshot holds. */
import { describe, expectTypeOf, it } from 'vitest';
import type {
  DatabaseCredentials,
  Lease,
  LeaseRotateEvent,
  LeaseSnapshot,
  LeaseState,
  Redacted,
  StaticDatabaseCredentials,
  Vault,
} from '../../src/index.js';

declare const vault: Vault;

describe('lease types', () => {
  it('database credentials: a lease of { username, password: Redacted }', () => {
    const lease = vault.database.credentials('app');
    expectTypeOf(lease).toEqualTypeOf<Lease<DatabaseCredentials>>();
    const fixed = vault.database.staticCredentials('svc');
    expectTypeOf(fixed).toEqualTypeOf<Lease<StaticDatabaseCredentials>>();
    expectTypeOf(fixed.current().value.password).toEqualTypeOf<Redacted<string>>();
    const snap = lease.current();
    expectTypeOf(snap).toEqualTypeOf<LeaseSnapshot<DatabaseCredentials>>();
    expectTypeOf(snap.value.username).toBeString();
    expectTypeOf(snap.value.password).toEqualTypeOf<Redacted<string>>();
    expectTypeOf(snap.value.password.reveal()).toBeString();
    expectTypeOf(snap.generation).toBeNumber();
    expectTypeOf(snap.leaseId).toBeString();
    expectTypeOf(snap.expiresAt).toBeNumber();
    expectTypeOf(lease.ready()).resolves.toEqualTypeOf<LeaseSnapshot<DatabaseCredentials>>();
    expectTypeOf(lease.state).toEqualTypeOf<LeaseState>();
  });

  it('rotated listeners get both snapshots and may return a promise (the drain)', () => {
    const lease = vault.database.credentials('app');
    lease.on('rotated', (e) => {
      expectTypeOf(e).toEqualTypeOf<LeaseRotateEvent<DatabaseCredentials>>();
      expectTypeOf(e.previous).toEqualTypeOf<LeaseSnapshot<DatabaseCredentials>>();
      expectTypeOf(e.current).toEqualTypeOf<LeaseSnapshot<DatabaseCredentials>>();
      return Promise.resolve();
    });
    expectTypeOf(lease.reissue({ ifGeneration: 1 })).resolves.toEqualTypeOf<
      LeaseSnapshot<DatabaseCredentials>
    >();
    // @ts-expect-error ifGeneration is a number
    lease.reissue({ ifGeneration: '1' });
  });

  it('certificates: the private key is Redacted', () => {
    const cert = vault.pki.certificate('web', { commonName: 'api.test' });
    const snap = cert.current();
    expectTypeOf(snap.value.certificate).toBeString();
    expectTypeOf(snap.value.privateKey).toEqualTypeOf<Redacted<string>>();
    // @ts-expect-error commonName is required
    vault.pki.certificate('web', {});
  });
});
