/** Compile-time contract of the rotating pool: a pg.Pool with its lease, typed options, events and stats. */
import type { DatabaseCredentials, Lease, LeaseSnapshot, Vault } from '@leasehold/core';
import type pg from 'pg';
import { describe, expectTypeOf, it } from 'vitest';
import {
  createRotatingPool,
  type PoolRotateEvent,
  type RotatingPool,
  type RotatingPoolError,
  type RotatingPoolOptions,
} from '../src/index.js';

declare const vault: Vault;
declare const lease: Lease<DatabaseCredentials>;

describe('RotatingPool types', () => {
  it('is a pg.Pool whose lease holds database credentials', () => {
    const pool = createRotatingPool({ vault, role: 'app', host: 'db', database: 'app', max: 10 });
    expectTypeOf(pool).toEqualTypeOf<RotatingPool>();
    expectTypeOf(pool).toMatchTypeOf<pg.Pool>();
    expectTypeOf(pool.lease).toEqualTypeOf<Lease<DatabaseCredentials>>();
    expectTypeOf(pool.lease.current()).toEqualTypeOf<LeaseSnapshot<DatabaseCredentials>>();
    expectTypeOf(pool.query<{ one: number }>('SELECT 1 AS one')).resolves.toHaveProperty('rows');
    expectTypeOf(pool.stats().generation).toBeNumber();
    expectTypeOf(pool.stats().rotations).toBeNumber();
  });

  it('takes a vault and a role, or a lease — not both, never a user or password', () => {
    expectTypeOf(createRotatingPool).toBeCallableWith({ lease, host: 'db' });
    expectTypeOf(createRotatingPool).toBeCallableWith({ vault, role: 'app', credentials: 'static' });
    // @ts-expect-error a lease or a vault and role, not both
    const both: RotatingPoolOptions = { vault, role: 'app', lease };
    // @ts-expect-error the credentials come from Vault
    const password: RotatingPoolOptions = { vault, role: 'app', password: 'secret' };
    expectTypeOf([both, password]).items.toEqualTypeOf<RotatingPoolOptions>();
  });

  it('rotate events and typed errors', () => {
    const pool = createRotatingPool({ vault, role: 'app' });
    pool.on('rotate', (e) => {
      expectTypeOf(e).toEqualTypeOf<PoolRotateEvent>();
      expectTypeOf(e.generation).toBeNumber();
    });
    expectTypeOf<RotatingPoolError>().toMatchTypeOf<Error>();
    expectTypeOf<RotatingPoolError['code']>().toBeString();
  });
});
