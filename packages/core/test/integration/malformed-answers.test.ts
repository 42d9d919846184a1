/**
 * Property-style test: random malformed Vault answers (seeded PRNG, many iterations) for login, token lookup, KV
 * read, database credentials, lease renewal and token renewal, served over real HTTP by a local server. Each
 * must end in a typed `VAULT_INVALID_RESPONSE` that names the field and the path (never a secret value), within
 * a generous deadline, with no unhandled rejection and no more requests than the retry policy allows (a malformed
 * answer is never retried: one request; a renewal answered wrongly falls back to one re-issue / re-login).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  type Clock,
  createVault,
  systemClock,
  type TimerHandle,
  type Vault,
  VaultError,
  VaultErrorCode,
} from '../../src/index.js';
import { envelope, HttpStub, type SeenRequest, type StubReply } from '../helpers/http-stub.js';

const SEED = 0x5eed_2026;
const ITERATIONS = 60;
const RENEWAL_ITERATIONS = 24;
/** Generous guard for one operation (it normally takes a few ms). */
const GUARD_MS = 30_000;

const SECRETS = ['hvs.prop-login-token', 'kv-secret-value', 'db-password-value', 'hvs.prop-user-token'];

/** mulberry32: a tiny deterministic PRNG, so a failing iteration can be replayed from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MISSING = Symbol('missing');
type Bad = unknown;

/** Values that are wrong for a field of the given kind (`MISSING` deletes the field). */
const WRONG = {
  seconds: ['30s', '3600', -1, 1.5, null, true, [], {}, MISSING] as Bad[],
  boolean: ['true', 'no', 1, 0, null, [], MISSING] as Bad[],
  token: ['', 42, null, {}, MISSING] as Bad[],
  string: [42, null, {}, [], true, MISSING] as Bad[],
  nonEmpty: ['', 42, null, {}, MISSING] as Bad[],
  object: ['x', 42, [], true, MISSING] as Bad[],
  optionalString: [42, {}, true] as Bad[],
  optionalList: ['default', [1], {}] as Bad[],
  optionalSeconds: ['1h', -5, 2.5] as Bad[],
  version: ['3', 0, -1, 1.5, null, MISSING] as Bad[],
};

/** Bodies that are not a Vault envelope at all (raw text). */
const WHOLE_BODY = ['<html>502 Bad Gateway</html>', '', '[]', 'null', '"ok"', '42', '{"data":'];

interface Case {
  /** A valid answer. */
  valid: () => Record<string, unknown>;
  /** Dotted field paths and the wrong values to try there. */
  fields: Array<[string, Bad[]]>;
}

const CASES = {
  login: {
    valid: () =>
      envelope({
        auth: {
          client_token: 'hvs.prop-login-token',
          accessor: 'acc-login',
          policies: ['default'],
          metadata: null,
          lease_duration: 3600,
          renewable: true,
        },
      }),
    fields: [
      ['auth', WRONG.object],
      ['auth.client_token', WRONG.token],
      ['auth.lease_duration', WRONG.seconds],
      ['auth.renewable', WRONG.boolean],
      ['auth.accessor', WRONG.optionalString],
      ['auth.policies', WRONG.optionalList],
    ],
  },
  lookup: {
    valid: () =>
      envelope({
        data: {
          accessor: 'acc-user',
          ttl: 3600,
          creation_ttl: 3600,
          explicit_max_ttl: 0,
          expire_time: '2026-12-01T00:00:00Z',
          renewable: true,
          policies: ['default'],
        },
      }),
    fields: [
      ['data', WRONG.object],
      ['data.ttl', WRONG.seconds],
      ['data.renewable', WRONG.boolean],
      ['data.creation_ttl', WRONG.optionalSeconds],
      ['data.explicit_max_ttl', WRONG.optionalSeconds],
      ['data.expire_time', WRONG.optionalString],
      ['data.accessor', WRONG.optionalString],
      ['data.policies', WRONG.optionalList],
    ],
  },
  kv: {
    valid: () =>
      envelope({
        data: {
          data: { apiKey: 'kv-secret-value' },
          metadata: {
            version: 3,
            created_time: '2026-01-01T00:00:00Z',
            deletion_time: '',
            destroyed: false,
            custom_metadata: null,
          },
        },
      }),
    fields: [
      ['data', WRONG.object],
      ['data.data', ['x', 42, [], true, MISSING]],
      ['data.metadata', ['x', 42, [], true, MISSING]],
      ['data.metadata.version', WRONG.version],
      ['data.metadata.created_time', WRONG.string],
      ['data.metadata.deletion_time', WRONG.string],
      ['data.metadata.destroyed', WRONG.boolean],
      ['data.metadata.custom_metadata', ['x', { a: 1 }, []]],
    ],
  },
  creds: {
    valid: () =>
      envelope({
        lease_id: 'database/creds/app/abc',
        lease_duration: 3600,
        renewable: true,
        data: { username: 'v-app-user', password: 'db-password-value' },
      }),
    fields: [
      ['lease_id', WRONG.string],
      ['lease_duration', WRONG.seconds],
      ['renewable', WRONG.boolean],
      ['data', WRONG.object],
      ['data.username', WRONG.nonEmpty],
      ['data.password', WRONG.nonEmpty],
    ],
  },
  leaseRenewal: {
    valid: () => envelope({ lease_id: 'database/creds/app/abc', lease_duration: 1, renewable: true }),
    fields: [
      ['lease_id', WRONG.string],
      ['lease_duration', WRONG.seconds],
      ['renewable', WRONG.boolean],
      ['warnings', ['x', [1], {}]],
    ],
  },
  tokenRenewal: {
    valid: () =>
      envelope({
        auth: {
          client_token: 'hvs.prop-login-token',
          accessor: 'acc-login',
          lease_duration: 1,
          renewable: true,
        },
      }),
    fields: [
      ['auth', WRONG.object],
      ['auth.lease_duration', WRONG.seconds],
      ['auth.renewable', WRONG.boolean],
      ['warnings', ['x', [1], {}]],
    ],
  },
} satisfies Record<string, Case>;

interface Malformed {
  reply: StubReply;
  /** The field named in the error (undefined: the whole body is wrong). */
  field: string | undefined;
  description: string;
}

/** One random malformed answer for `c`: a wrong field (70 %) or a body that is not an envelope. */
function malformed(c: Case, random: () => number): Malformed {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  if (random() < 0.3) {
    const raw = pick(WHOLE_BODY);
    return { reply: { status: 200, raw }, field: undefined, description: `raw ${JSON.stringify(raw)}` };
  }
  const [field, wrongs] = pick(c.fields);
  const value = pick(wrongs);
  const body = c.valid();
  const keys = field.split('.');
  let parent = body as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
  const last = keys.at(-1) as string;
  if (value === MISSING) delete parent[last];
  else parent[last] = value;
  const description = `${field} = ${value === MISSING ? 'missing' : JSON.stringify(value)}`;
  return { reply: { status: 200, body }, field, description };
}

// ── fixtures ──────────────────────────────────────────────────────────────────────────────────────────────

let stub: HttpStub;
let address: string;
/** Per request path (without /v1/ and query): the reply to give, else the valid default. */
let replies = new Map<string, StubReply | ((req: SeenRequest) => StubReply)>();
let vaults: Vault[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

const pathOf = (req: SeenRequest): string => req.url.replace(/^\/v1\//, '').split('?')[0] ?? '';

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  stub = new HttpStub();
  stub.handler = (req) => {
    const path = pathOf(req);
    const reply = replies.get(path);
    if (reply) return typeof reply === 'function' ? reply(req) : reply;
    if (path === 'auth/approle/login') return { status: 200, body: CASES.login.valid() };
    if (path === 'auth/token/lookup-self') {
      // a token that never expires, so only the answer under test drives the schedule
      return { status: 200, body: envelope({ data: { accessor: 'acc-user', ttl: 0, renewable: false } }) };
    }
    return { status: 404, body: { errors: [] } };
  };
  address = await stub.listen();
});
afterEach(async () => {
  await Promise.all(vaults.map((v) => v.close({ revokeToken: false, timeoutMs: 200 })));
  vaults = [];
  replies = new Map();
  stub.seen.length = 0;
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(unhandled).toEqual([]);
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await stub?.close();
});

function client(options: Parameters<typeof createVault>[0] = {}): Vault {
  const vault = createVault({
    env: {},
    address,
    auth: auth.token({ token: 'hvs.prop-user-token' }),
    ...options,
  });
  vaults.push(vault);
  return vault;
}

/** A clock that counts its armed timers (set, neither fired nor cleared yet). */
class CountingClock implements Clock {
  readonly #inner: Clock;
  readonly #armed = new Set<TimerHandle>();
  constructor(inner: Clock) {
    this.#inner = inner;
  }
  get armed(): number {
    return this.#armed.size;
  }
  now(): number {
    return this.#inner.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = this.#inner.setTimeout(() => {
      this.#armed.delete(handle);
      fn();
    }, ms);
    this.#armed.add(handle);
    return handle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.#armed.delete(handle);
    this.#inner.clearTimeout(handle);
  }
}

const count = (path: string): number => stub.seen.filter((r) => pathOf(r) === path).length;

/** `promise`, or a failure when it is still pending after the guard. */
async function guarded<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${GUARD_MS} ms`)), GUARD_MS);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `op`, which must reject within the guard; returns the error. */
async function rejection(op: () => Promise<unknown>): Promise<unknown> {
  const outcome = await guarded(
    op().then(
      () => ({ resolved: true as const }),
      (error: unknown) => ({ resolved: false as const, error }),
    ),
  );
  if (outcome.resolved) throw new Error('expected a rejection, the operation succeeded');
  return outcome.error;
}

/** The error is a typed INVALID_RESPONSE naming `path` and the field, and holds no secret. */
function expectInvalid(error: unknown, path: string, m: Malformed): void {
  const context = `${m.description} → ${error instanceof Error ? error.message : String(error)}`;
  expect(VaultError.is(error, VaultErrorCode.INVALID_RESPONSE), context).toBe(true);
  const e = error as VaultError;
  expect(e.retryable, context).toBe(false);
  expect(e.message, context).toContain(path);
  // the field itself, or an entry inside it ("auth.policies.0")
  if (m.field) expect(e.message, context).toMatch(new RegExp(`"${m.field.replaceAll('.', '\\.')}[."]`));
  expect(e.message, context).not.toMatch(/NaN/);
  const text = `${e.message} ${JSON.stringify(e)} ${String(e.cause)}`;
  for (const secret of SECRETS) expect(text, context).not.toContain(secret);
}

// ── properties ───────────────────────────────────────────────────────────────────────────────────────────

describe(`malformed Vault answers (seed ${SEED}, ${ITERATIONS} iterations each)`, () => {
  it('login: ready() rejects with VAULT_INVALID_RESPONSE after exactly one login request', async () => {
    const random = prng(SEED);
    for (let i = 0; i < ITERATIONS; i++) {
      const m = malformed(CASES.login, random);
      replies.set('auth/approle/login', m.reply);
      const before = count('auth/approle/login');
      const vault = client({ auth: auth.appRole({ roleId: 'role-id', secretId: 'secret-id' }) });
      expectInvalid(await rejection(() => vault.ready({ timeoutMs: GUARD_MS })), 'auth/approle/login', m);
      expect(count('auth/approle/login') - before, m.description).toBe(1);
    }
  });

  it('token lookup: ready() rejects with VAULT_INVALID_RESPONSE after exactly one lookup', async () => {
    const random = prng(SEED + 1);
    for (let i = 0; i < ITERATIONS; i++) {
      const m = malformed(CASES.lookup, random);
      replies.set('auth/token/lookup-self', m.reply);
      const before = count('auth/token/lookup-self');
      const vault = client();
      expectInvalid(await rejection(() => vault.ready({ timeoutMs: GUARD_MS })), 'auth/token/lookup-self', m);
      expect(count('auth/token/lookup-self') - before, m.description).toBe(1);
    }
  });

  it('KV v2 read: kv.get() rejects with VAULT_INVALID_RESPONSE after exactly one read (not retried)', async () => {
    const random = prng(SEED + 2);
    const vault = client();
    await vault.ready();
    for (let i = 0; i < ITERATIONS; i++) {
      const m = malformed(CASES.kv, random);
      replies.set('secret/data/app', m.reply);
      const before = count('secret/data/app');
      expectInvalid(await rejection(() => vault.kv.get('app', { kvVersion: 2 })), 'secret/data/app', m);
      expect(count('secret/data/app') - before, m.description).toBe(1);
    }
  });

  it('database credentials: lease.ready() rejects with VAULT_INVALID_RESPONSE after one issue request', async () => {
    const random = prng(SEED + 3);
    // The real clock, with a count of the timers armed and not yet fired or cleared: a failed handle must leave none.
    const clock = new CountingClock(systemClock);
    const vault = client({ clock });
    await vault.ready();
    const armedBefore = clock.armed;
    for (let i = 0; i < ITERATIONS; i++) {
      const m = malformed(CASES.creds, random);
      const path = `database/creds/app-${i}`;
      replies.set(path, m.reply);
      const lease = vault.database.credentials(`app-${i}`);
      expectInvalid(await rejection(() => lease.ready({ timeoutMs: GUARD_MS })), path, m);
      expect(count(path), m.description).toBe(1);
      expect(lease.state).toBe('failed');
    }
    // No loop afterwards: a failed handle keeps no timer (no retry, no renewal is scheduled), so it sends nothing more.
    expect(clock.armed).toBe(armedBefore);
    expect(stub.seen.filter((r) => pathOf(r).startsWith('database/creds/'))).toHaveLength(ITERATIONS);
  });

  it(`lease renewal (${RENEWAL_ITERATIONS} leases of 5 s at once): renewals with backoff, then one re-issue, no loop`, async () => {
    const random = prng(SEED + 4);
    const vault = client();
    await vault.ready();
    const runs = Array.from({ length: RENEWAL_ITERATIONS }, (_, i) => {
      const m = malformed(CASES.leaseRenewal, random);
      const role = `renew-${i}`;
      const firstLease = `database/creds/${role}/first`;
      let issued = 0;
      replies.set(`database/creds/${role}`, () => {
        issued += 1;
        const leaseId = issued === 1 ? firstLease : `database/creds/${role}/${issued}`;
        return {
          status: 200,
          body: envelope({
            lease_id: leaseId,
            // Long enough that a renewal is due before the re-issue even when the answer was slow: the lease counts
            // its TTL from the request's send time, and a 1 s lease answered late goes straight to its re-issue.
            lease_duration: 5,
            renewable: true,
            data: { username: `v-${role}`, password: 'db-password-value' },
          }),
        };
      });
      return { m, role, firstLease, lease: vault.database.credentials(role) };
    });
    replies.set('sys/leases/renew', (req) => {
      const leaseId = (JSON.parse(req.body) as { lease_id: string }).lease_id;
      const run = runs.find((r) => leaseId.startsWith(`database/creds/${r.role}/`));
      return run ? run.m.reply : { status: 400, body: { errors: ['lease not found'] } };
    });
    await Promise.all(
      runs.map(async (run) => {
        const errors: unknown[] = [];
        run.lease.on('error', (e) => {
          if (e.operation === 'renew') errors.push(e.error);
        });
        const rotated = new Promise<void>((resolve) => run.lease.on('rotated', () => resolve()));
        await run.lease.ready({ timeoutMs: GUARD_MS });
        await guarded(rotated);
        const renewals = stub.seen.filter(
          (r) => pathOf(r) === 'sys/leases/renew' && r.body.includes(`"${run.firstLease}"`),
        );
        // A malformed answer is retryable (a proxy may have mangled it): inside a 5 s lease the renewal is retried
        // with backoff, bounded by the time left, before the re-issue replaces it — a handful of renewals. What must
        // never happen is a loop (a renewal per answer: hundreds in those seconds), and the re-issue is exactly one.
        expect(renewals.length, run.m.description).toBeGreaterThanOrEqual(1);
        expect(renewals.length, run.m.description).toBeLessThanOrEqual(5);
        expectInvalid(errors[0], 'sys/leases/renew', run.m);
        expect(run.lease.current().generation).toBe(2);
      }),
    );
  });

  it(`token renewal (${RENEWAL_ITERATIONS} tokens of 5 s at once): renew-self with backoff, then one re-login, no loop`, async () => {
    const random = prng(SEED + 5);
    const runs = Array.from({ length: RENEWAL_ITERATIONS }, (_, i) => ({
      m: malformed(CASES.tokenRenewal, random),
      mount: `approle-${i}`,
    }));
    for (const { mount } of runs) {
      let logins = 0;
      replies.set(`auth/${mount}/login`, () => {
        logins += 1;
        const body = CASES.login.valid();
        // 5 s: a renewal is due before the re-login even when the login answered late (the token's TTL counts from
        // the login's send time; a 1 s token answered late goes straight to its re-login).
        Object.assign(body.auth as object, { client_token: `hvs.${mount}-${logins}`, lease_duration: 5 });
        return { status: 200, body };
      });
    }
    replies.set('auth/token/renew-self', (req) => {
      const token = String(req.headers['x-vault-token']);
      const run = runs.find((r) => token.startsWith(`hvs.${r.mount}-`));
      return run ? run.m.reply : { status: 403, body: { errors: ['permission denied'] } };
    });
    await Promise.all(
      runs.map(async ({ m, mount }) => {
        const vault = client({ auth: auth.appRole({ roleId: 'role-id', secretId: 'secret-id', mount }) });
        const failures: unknown[] = [];
        vault.on('token:renew-failed', (e) => failures.push(e));
        const relogin = new Promise<void>((resolve) =>
          vault.on('login', (e) => {
            if (e.reason !== 'initial') resolve();
          }),
        );
        await vault.ready({ timeoutMs: GUARD_MS });
        await guarded(relogin);
        const renewals = stub.seen.filter(
          (r) => pathOf(r) === 'auth/token/renew-self' && r.headers['x-vault-token'] === `hvs.${mount}-1`,
        );
        // Retried with backoff inside the time left (a handful), never in a loop (one per answer: hundreds).
        expect(renewals.length, m.description).toBeGreaterThanOrEqual(1);
        expect(renewals.length, m.description).toBeLessThanOrEqual(5);
        expect(failures[0], m.description).toMatchObject({ code: VaultErrorCode.INVALID_RESPONSE });
        expect(String((failures[0] as { message: string }).message)).toContain('auth/token/renew-self');
      }),
    );
  });
});

describe('malformed answers of every engine name the field', () => {
  const cert = (data: Record<string, unknown>) =>
    envelope({
      data: {
        certificate: 'PEM',
        private_key: 'KEY',
        serial_number: '01',
        expiration: 2_000_000_000,
        ...data,
      },
    });
  it.each([
    [
      'login answering 200 with HTML (not VAULT_LOGIN_FAILED)',
      'auth/approle/login',
      { status: 200, raw: '<html>OK</html>' },
      (v: Vault) => v.ready({ timeoutMs: GUARD_MS }),
      'answered 200 with a body that is not JSON',
    ],
    [
      'database credentials with lease_duration "30s"',
      'database/creds/app',
      {
        status: 200,
        body: envelope({
          lease_id: 'l',
          lease_duration: '30s',
          renewable: true,
          data: { username: 'u', password: 'p' },
        }),
      },
      (v: Vault) => v.database.credentials('app').ready({ timeoutMs: GUARD_MS }),
      '"lease_duration" must be a non-negative integer number of seconds (got a string)',
    ],
    [
      'static credentials with ttl "1h"',
      'database/static-creds/app',
      { status: 200, body: envelope({ data: { username: 'u', password: 'p', ttl: '1h' } }) },
      (v: Vault) => v.database.staticCredentials('app').ready({ timeoutMs: GUARD_MS }),
      '"data.ttl" must be a non-negative integer number of seconds (got a string)',
    ],
    [
      'a PKI certificate whose expiration is a date string',
      'pki/issue/web',
      { status: 200, body: cert({ expiration: '2027-01-01T00:00:00Z' }) },
      (v: Vault) => v.pki.certificate('web', { commonName: 'a.test' }).ready({ timeoutMs: GUARD_MS }),
      '"data.expiration" must be a Unix time in seconds (got a string)',
    ],
    [
      'a PKI certificate without its private key',
      'pki/issue/web',
      { status: 200, body: cert({ private_key: undefined }) },
      (v: Vault) => v.pki.certificate('web', { commonName: 'b.test' }).ready({ timeoutMs: GUARD_MS }),
      '"data.private_key" must be a PEM string (missing)',
    ],
    [
      'transit encrypt answering a ciphertext without the vault: prefix',
      'transit/encrypt/k',
      { status: 200, body: envelope({ data: { ciphertext: 'abc', key_version: 1 } }) },
      (v: Vault) => v.transit.encrypt('k', 'hello'),
      '"data.ciphertext" must be a "vault:vN:…" ciphertext',
    ],
    [
      'transit verify answering valid: "true"',
      'transit/verify/k',
      { status: 200, body: envelope({ data: { valid: 'true' } }) },
      (v: Vault) => v.transit.verify('k', 'hello', 'vault:v1:sig'),
      '"data.valid" must be true or false (got a string)',
    ],
    [
      'sys/health without sealed',
      'sys/health',
      { status: 200, body: { initialized: true, standby: false } },
      (v: Vault) => v.sys.health(),
      '"sealed" must be true or false (missing)',
    ],
    [
      'sys/leases/lookup with ttl as a string',
      'sys/leases/lookup',
      {
        status: 200,
        body: envelope({
          data: {
            id: 'l',
            issue_time: 't',
            expire_time: null,
            last_renewal: null,
            renewable: true,
            ttl: '60',
          },
        }),
      },
      (v: Vault) => v.sys.lookupLease('l'),
      '"data.ttl" must be a non-negative integer number of seconds (got a string)',
    ],
    [
      'KV mount detection with options.version as a number',
      'sys/internal/ui/mounts/secret',
      { status: 200, body: envelope({ data: { type: 'kv', options: { version: 2 } } }) },
      (v: Vault) => v.kv.get('app'),
      '"data.options.version" must be a string (got a number)',
    ],
    [
      'KV list with keys that are not a list',
      'secret/metadata/app',
      { status: 200, body: envelope({ data: { keys: 'a,b' } }) },
      (v: Vault) => v.kv.list('app', { kvVersion: 2 }),
      '"data.keys" must be a list of strings (got a string)',
    ],
  ] as const)('%s', async (_name, path, reply, op, expected) => {
    replies.set(path, reply as StubReply);
    const vault = client(
      path === 'auth/approle/login' ? { auth: auth.appRole({ roleId: 'r', secretId: 's' }) } : {},
    );
    const error = await rejection(() => op(vault));
    expect(VaultError.is(error, VaultErrorCode.INVALID_RESPONSE), String(error)).toBe(true);
    expect((error as VaultError).message).toContain(path);
    expect((error as VaultError).message).toContain(expected);
    expect(count(path)).toBe(1);
  });
});
