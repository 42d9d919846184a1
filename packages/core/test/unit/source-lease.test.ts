import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  type CredentialBinding,
  type CredentialSource,
  CredentialSourceError,
  createSourceLease,
  type DatabaseCredentials,
  type LeaseEventMap,
  Redacted,
  type SourcedValue,
  type SourceFetchReason,
  type SourceLeaseOptions,
  type VaultEvents,
} from '../../src/index.js';
import { fixedRandom, flush, ManualClock } from '../helpers/manual-clock.js';

const T0 = Date.UTC(2026, 0, 1);
const SECRET = 'pw-do-not-leak-7f3a';

/**
 * A scripted source: `serve(version)` sets what fetch() and version() answer; `failNext(error)` queues failures.
 * Every call is recorded with the clock's instant (ms since T0).
 */
class TestSource implements CredentialSource<DatabaseCredentials> {
  readonly kind = 'test';
  readonly name = 'db/app';
  readonly binding: CredentialBinding;
  readonly calls: Array<{ at: number; op: 'fetch' | 'version'; reason?: SourceFetchReason }> = [];
  closed = 0;
  current = 'v1';
  lifetimeMs: number | undefined;
  refreshInMs: number | undefined;
  readonly fetchFailures: unknown[] = [];
  readonly versionFailures: unknown[] = [];
  hang = false;
  version?: (signal: AbortSignal) => Promise<string>;

  constructor(
    readonly clock: ManualClock,
    binding: CredentialBinding = 'session',
    withVersion = true,
  ) {
    this.binding = binding;
    if (withVersion) {
      this.version = async () => {
        this.calls.push({ at: this.clock.now() - T0, op: 'version' });
        const failure = this.versionFailures.shift();
        if (failure) throw failure;
        return this.current;
      };
    }
  }

  async fetch(signal: AbortSignal, reason: SourceFetchReason): Promise<SourcedValue<DatabaseCredentials>> {
    this.calls.push({ at: this.clock.now() - T0, op: 'fetch', reason });
    if (this.hang)
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    const failure = this.fetchFailures.shift();
    if (failure) throw failure;
    const now = this.clock.now();
    return {
      value: { username: `user-${this.current}`, password: Redacted.of(`${SECRET}-${this.current}`) },
      version: this.current,
      ...(this.lifetimeMs === undefined ? {} : { expiresAt: now + this.lifetimeMs }),
      ...(this.refreshInMs === undefined ? {} : { refreshAt: now + this.refreshInMs }),
    };
  }

  close(): void {
    this.closed++;
  }

  fetches(): Array<{ at: number; reason?: SourceFetchReason }> {
    return this.calls.filter((c) => c.op === 'fetch').map(({ at, reason }) => ({ at, reason }));
  }

  versions(): number[] {
    return this.calls.filter((c) => c.op === 'version').map((c) => c.at);
  }
}

const unavailable = (): CredentialSourceError =>
  new CredentialSourceError('SOURCE_UNAVAILABLE', 'throttled', { source: { kind: 'test', name: 'db/app' } });

function setup(
  options: SourceLeaseOptions = {},
  binding: CredentialBinding = 'session',
  withVersion = true,
  prepare?: (s: TestSource) => void,
) {
  const clock = new ManualClock(T0);
  const source = new TestSource(clock, binding, withVersion);
  prepare?.(source);
  const client: Array<{ event: keyof VaultEvents; payload: unknown }> = [];
  const lease = createSourceLease(source, {
    clock,
    random: fixedRandom(0.5),
    events: { emit: (event, payload) => client.push({ event, payload }) },
    ...options,
  });
  const events: Array<{ at: number; event: string; payload: unknown }> = [];
  for (const event of ['issued', 'rotated', 'expiring', 'expired', 'revoked', 'error', 'renewed'] as const) {
    lease.on(event, (payload: LeaseEventMap<DatabaseCredentials>[typeof event]) => {
      events.push({ at: clock.now() - T0, event, payload });
    });
  }
  return { clock, source, lease, events, client };
}

describe('createSourceLease: first value', () => {
  it('fetches at once: issued, generation 1, ready() resolves with it', async () => {
    const { clock, source, lease, events } = setup();
    expect(lease.state).toBe('issuing');
    const snap = await lease.ready();
    expect(snap.generation).toBe(1);
    expect(snap.value.username).toBe('user-v1');
    expect(snap.issuedAt).toBe(T0);
    expect(snap.expiresAt).toBe(Number.POSITIVE_INFINITY);
    expect(lease.state).toBe('issued');
    expect(source.fetches()).toEqual([{ at: 0, reason: 'initial' }]);
    expect(events.map((e) => e.event)).toEqual(['issued']);
    expect(lease.path).toBe('test:db/app');
    expect(lease.source).toEqual({ kind: 'test', name: 'db/app' });
    expect(Object.isFrozen(snap.value)).toBe(true);
    await lease.close();
    expect(clock.pendingCount).toBe(0);
  });

  it('retries a retryable failure with backoff (1 s, 2 s) and reports each attempt', async () => {
    const { clock, source, lease, events, client } = setup({}, 'session', true, (s) => {
      s.fetchFailures.push(unavailable(), unavailable());
    });
    await clock.advance(0);
    expect(lease.state).toBe('issuing');
    await clock.advance(2999);
    expect(lease.peek()).toBeUndefined();
    await clock.advance(1);
    expect((await lease.ready()).generation).toBe(1);
    expect(source.fetches().map((f) => f.at)).toEqual([0, 1000, 3000]);
    const errors = events.filter((e) => e.event === 'error');
    expect(errors.map((e) => [e.at, (e.payload as { retryInMs: number }).retryInMs])).toEqual([
      [0, 1000],
      [1000, 2000],
    ]);
    expect(client.filter((c) => c.event === 'lease:issue-failed').map((c) => c.payload)).toEqual([
      { key: 'source:test:db/app', path: 'test:db/app', code: 'SOURCE_UNAVAILABLE', retryInMs: 1000 },
      { key: 'source:test:db/app', path: 'test:db/app', code: 'SOURCE_UNAVAILABLE', retryInMs: 2000 },
    ]);
    await lease.close();
  });

  it('a non-retryable first failure ends in failed: ready() rejects with it, the source is closed', async () => {
    const denied = new CredentialSourceError('SOURCE_AUTH_FAILED', 'AccessDeniedException. Grant it.', {
      source: { kind: 'test', name: 'db/app' },
    });
    const { clock, source, lease } = setup({}, 'session', true, (s) => s.fetchFailures.push(denied));
    const ready = lease.ready().catch((e: unknown) => e);
    await clock.advance(0);
    expect(await ready).toBe(denied);
    await expect(lease.ready()).rejects.toBe(denied);
    expect(lease.state).toBe('failed');
    expect(source.closed).toBe(1);
    expect(clock.pendingCount).toBe(0);
    expect(() => lease.current()).toThrow(denied);
    await lease.close();
    expect(source.closed).toBe(1);
  });

  it('an answer without a version is SOURCE_INVALID_RESPONSE (not retried before the first value)', async () => {
    const clock = new ManualClock(T0);
    const lease = createSourceLease(
      {
        kind: 'test',
        name: 'broken',
        binding: 'session',
        fetch: async () => ({ value: { username: 'u', password: Redacted.of(SECRET) } }) as never,
      },
      { clock },
    );
    const err = await lease.ready().catch((e: unknown) => e);
    expect(CredentialSourceError.is(err, 'SOURCE_INVALID_RESPONSE')).toBe(true);
    expect((err as Error).message).toMatch(/^test "broken": fetch\(\) must give "version"/);
    expect(lease.state).toBe('failed');
  });

  it('ready() times out with SOURCE_TIMEOUT naming the last error', async () => {
    const { clock, lease } = setup({}, 'session', true, (s) => {
      for (let i = 0; i < 20; i++) s.fetchFailures.push(unavailable());
    });
    const ready = lease.ready({ timeoutMs: 5000 }).catch((e: unknown) => e);
    await clock.advance(5000);
    const err = await ready;
    expect(CredentialSourceError.is(err, 'SOURCE_TIMEOUT')).toBe(true);
    expect((err as Error).message).toContain('last error SOURCE_UNAVAILABLE');
    await lease.close();
  });
});

describe('createSourceLease: polling', () => {
  it('asks version() every pollIntervalMs and fetches only when it differs → rotated (source-changed)', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 10_000 });
    await lease.ready();
    await clock.advance(10_000);
    expect(source.versions()).toEqual([10_000]);
    expect(source.fetches()).toHaveLength(1);
    source.current = 'v2';
    await clock.advance(10_000);
    expect(source.versions()).toEqual([10_000, 20_000]);
    expect(source.fetches()).toEqual([
      { at: 0, reason: 'initial' },
      { at: 20_000, reason: 'changed' },
    ]);
    const rotated = events.find((e) => e.event === 'rotated');
    const payload = rotated?.payload as LeaseEventMap<DatabaseCredentials>['rotated'];
    expect(rotated?.at).toBe(20_000);
    expect(payload.reason).toBe('source-changed');
    expect(payload.retirePrevious).toBe(true);
    expect(payload.previous.generation).toBe(1);
    expect(payload.current.generation).toBe(2);
    expect(lease.current().value.username).toBe('user-v2');
    // No listener deferred the drain: generation 1 is retired at once.
    expect(events.filter((e) => e.event === 'revoked').map((e) => [e.at, e.payload])).toEqual([
      [20_000, { leaseId: '', generation: 1, reason: 'rotated' }],
    ]);
    await clock.advance(10_000);
    expect(source.versions()).toEqual([10_000, 20_000, 30_000]);
    await lease.close();
  });

  it('without version() every poll fetches; the same version does not rotate', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 5000 }, 'session', false);
    await lease.ready();
    await clock.advance(5000);
    await clock.advance(5000);
    expect(source.fetches()).toEqual([
      { at: 0, reason: 'initial' },
      { at: 5000, reason: 'changed' },
      { at: 10_000, reason: 'changed' },
    ]);
    expect(events.filter((e) => e.event === 'rotated')).toHaveLength(0);
    source.current = 'v2';
    await clock.advance(5000);
    expect(lease.current().generation).toBe(2);
    await lease.close();
  });

  it('a failed version() check backs off (1 s, 2 s) then returns to the interval', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 10_000 }, 'session', true, (s) => {
      s.versionFailures.push(new Error('socket hang up'), unavailable());
    });
    await lease.ready();
    await clock.advance(10_000 + 1000 + 2000);
    expect(source.versions()).toEqual([10_000, 11_000, 13_000]);
    const errors = events
      .filter((e) => e.event === 'error')
      .map((e) => e.payload as LeaseEventMap<unknown>['error']);
    expect(errors.map((e) => [e.operation, e.error.code, e.retryInMs])).toEqual([
      ['lookup', 'SOURCE_UNAVAILABLE', 1000],
      ['lookup', 'SOURCE_UNAVAILABLE', 2000],
    ]);
    await clock.advance(10_000);
    expect(source.versions()).toEqual([10_000, 11_000, 13_000, 23_000]);
    await lease.close();
  });

  it('pollIntervalMs 0: no polling at all', async () => {
    const { clock, source, lease } = setup({ pollIntervalMs: 0 });
    await lease.ready();
    expect(clock.pendingCount).toBe(0);
    await clock.advance(3_600_000);
    expect(source.calls).toHaveLength(1);
    await lease.close();
  });
});

describe('createSourceLease: refresh before the end', () => {
  it('a 15-minute value is fetched again at 12 min (margin 20 %): expiring, then rotated (refresh)', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 0 }, 'login', true, (s) => {
      s.lifetimeMs = 15 * 60_000;
    });
    const first = await lease.ready();
    expect(first.expiresAt).toBe(T0 + 15 * 60_000);
    source.current = 'v2';
    await clock.advance(12 * 60_000 - 1);
    expect(source.fetches()).toHaveLength(1);
    await clock.advance(1);
    expect(source.fetches()).toEqual([
      { at: 0, reason: 'initial' },
      { at: 12 * 60_000, reason: 'refresh' },
    ]);
    const expiring = events.find((e) => e.event === 'expiring');
    expect(expiring?.at).toBe(12 * 60_000);
    expect(expiring?.payload).toMatchObject({ remainingMs: 3 * 60_000, reason: 'refresh' });
    const rotated = events.find((e) => e.event === 'rotated')
      ?.payload as LeaseEventMap<DatabaseCredentials>['rotated'];
    expect(rotated.reason).toBe('refresh');
    // login binding: connections made with the previous token stay open.
    expect(rotated.retirePrevious).toBe(false);
    expect(lease.current().expiresAt).toBe(T0 + 27 * 60_000);
    // The next refresh is 12 min after the second fetch.
    source.current = 'v3';
    await clock.advance(12 * 60_000);
    expect(source.fetches().map((f) => f.at)).toEqual([0, 12 * 60_000, 24 * 60_000]);
    await lease.close();
    expect(clock.pendingCount).toBe(0);
  });

  it('refreshMarginMs is capped at half the lifetime; refreshAt wins when given', async () => {
    const a = setup({ pollIntervalMs: 0, refreshMarginMs: 50_000 }, 'session', true, (s) => {
      s.lifetimeMs = 60_000;
    });
    await a.lease.ready();
    expect(a.clock.pendingDelays()).toEqual([30_000]);
    await a.lease.close();

    const b = setup({ pollIntervalMs: 0 }, 'session', true, (s) => {
      s.lifetimeMs = 60 * 60_000;
      s.refreshInMs = 5 * 60_000;
    });
    await b.lease.ready();
    expect(b.clock.pendingDelays()).toEqual([5 * 60_000]);
    await b.lease.close();
  });

  it('a refresh that keeps failing marks the value expired at its end, then rotates (reason expired)', async () => {
    const { clock, source, lease, events } = setup(
      { pollIntervalMs: 0, retry: { initialMs: 1000, maxMs: 1000 } },
      'login',
      true,
      (s) => {
        s.lifetimeMs = 100_000;
      },
    );
    await lease.ready();
    for (let i = 0; i < 60; i++) source.fetchFailures.push(unavailable());
    source.current = 'v2';
    // Margin: max(20 s, 30 s) = 30 s, ≤ 50 s → refresh at 70 s; retries every 1 s; the value ends at 100 s.
    await clock.advance(100_000);
    expect(lease.state).toBe('expired');
    expect(events.find((e) => e.event === 'expired')?.at).toBe(100_000);
    source.fetchFailures.length = 0;
    await clock.advance(1000);
    const rotated = events.find((e) => e.event === 'rotated');
    expect(rotated?.payload).toMatchObject({ reason: 'expired' });
    expect(lease.state).toBe('issued');
    await lease.close();
  });

  it('a value without an end and a refreshAt: refreshed at refreshAt; unchanged, it waits for the next refreshAt', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 0 }, 'session', true, (s) => {
      s.refreshInMs = 10_000;
    });
    await lease.ready();
    await clock.advance(10_000);
    expect(source.fetches().map((f) => [f.at, f.reason])).toEqual([
      [0, 'initial'],
      [10_000, 'refresh'],
    ]);
    expect(events.filter((e) => e.event === 'rotated' || e.event === 'expiring')).toHaveLength(0);
    expect(clock.pendingDelays()).toEqual([10_000]);
    source.refreshInMs = undefined;
    await clock.advance(10_000);
    // Unchanged and no later refreshAt: no more refreshes (no loop).
    expect(source.fetches()).toHaveLength(3);
    expect(clock.pendingCount).toBe(0);
    await lease.close();
  });

  it('the same version with a later end is an extension (renewed state, no rotation)', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 0 }, 'session', true, (s) => {
      s.lifetimeMs = 100_000;
    });
    await lease.ready();
    await clock.advance(70_000);
    expect(lease.state).toBe('renewed');
    expect(lease.current().generation).toBe(1);
    expect(lease.current().expiresAt).toBe(T0 + 170_000);
    expect(events.filter((e) => e.event === 'rotated')).toHaveLength(0);
    expect(source.fetches().map((f) => f.reason)).toEqual(['initial', 'refresh']);
    await lease.close();
  });
});

describe('createSourceLease: reissue()', () => {
  it('fetches with reason requested and rotates when the version changed', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 0 });
    await lease.ready();
    source.current = 'v2';
    const [a, b] = await Promise.all([
      lease.reissue({ ifGeneration: 1 }),
      lease.reissue({ ifGeneration: 1 }),
    ]);
    expect(a).toBe(b);
    expect(a.generation).toBe(2);
    expect(source.fetches().map((f) => f.reason)).toEqual(['initial', 'requested']);
    expect(events.find((e) => e.event === 'rotated')?.payload).toMatchObject({ reason: 'requested' });
    // An old generation asks again: nothing happens.
    expect((await lease.reissue({ ifGeneration: 1 })).generation).toBe(2);
    expect(source.fetches()).toHaveLength(2);
    await clock.advance(0);
    await lease.close();
  });

  it('the same version: resolves with the current value, then checks again at 1 s, 2 s, 4 s, 8 s, 16 s', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 60_000 });
    await lease.ready();
    const snap = await lease.reissue({ ifGeneration: 1 });
    expect(snap.generation).toBe(1);
    expect(events.filter((e) => e.event === 'rotated')).toHaveLength(0);
    await clock.advance(31_000);
    expect(source.versions()).toEqual([1000, 3000, 7000, 15_000, 31_000]);
    // Back to the poll interval.
    await clock.advance(60_000);
    expect(source.versions()).toEqual([1000, 3000, 7000, 15_000, 31_000, 91_000]);
    await lease.close();
  });

  it('the source finishes its rotation during the quick checks: rotated at that check', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 60_000 });
    await lease.ready();
    await lease.reissue();
    await clock.advance(1000);
    source.current = 'v2';
    await clock.advance(2000);
    expect(events.find((e) => e.event === 'rotated')?.at).toBe(3000);
    expect(source.fetches().map((f) => [f.at, f.reason])).toEqual([
      [0, 'initial'],
      [0, 'requested'],
      [3000, 'changed'],
    ]);
    // Quick checks stop; the next check is a regular poll.
    await clock.advance(60_000);
    expect(source.versions()).toEqual([1000, 3000, 63_000]);
    await lease.close();
  });
});

describe('createSourceLease: drain and close', () => {
  it('session binding: the previous generation is retired when the listener drains', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 0 });
    await lease.ready();
    let drain: (() => void) | undefined;
    lease.on('rotated', (e) => {
      drain = e.drained;
    });
    source.current = 'v2';
    await lease.reissue();
    await clock.advance(5000);
    expect(events.filter((e) => e.event === 'revoked')).toHaveLength(0);
    drain?.();
    await clock.advance(0);
    expect(events.filter((e) => e.event === 'revoked').map((e) => [e.at, e.payload])).toEqual([
      [5000, { leaseId: '', generation: 1, reason: 'rotated' }],
    ]);
    await lease.close();
  });

  it('drainTimeoutMs bounds the wait: retired at exactly that instant', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 0, drainTimeoutMs: 7000 });
    await lease.ready();
    const drainBy: number[] = [];
    lease.on('rotated', (e) => {
      drainBy.push(e.drainBy);
      void e.drained; // never called
    });
    source.current = 'v2';
    await lease.reissue();
    expect(drainBy).toEqual([T0 + 7000]);
    await clock.advance(6999);
    expect(events.filter((e) => e.event === 'revoked')).toHaveLength(0);
    await clock.advance(1);
    expect(events.filter((e) => e.event === 'revoked').map((e) => e.at)).toEqual([7000]);
    await lease.close();
  });

  it('login binding: drain timeout 0 by default', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 0 }, 'login');
    await lease.ready();
    const drainBy: number[] = [];
    lease.on('rotated', (e) => {
      drainBy.push(e.drainBy);
      void e.drained;
    });
    source.current = 'v2';
    await lease.reissue();
    expect(drainBy).toEqual([T0]);
    await clock.advance(0);
    expect(events.filter((e) => e.event === 'revoked').map((e) => e.at)).toEqual([0]);
    await lease.close();
  });

  it('close() clears every timer, aborts a fetch under way, rejects waiters, closes the source once', async () => {
    const { clock, source, lease, events } = setup({ pollIntervalMs: 10_000 }, 'session', true, (s) => {
      s.lifetimeMs = 600_000;
    });
    await lease.ready();
    expect(clock.pendingCount).toBe(2); // poll + refresh
    source.hang = true;
    source.current = 'v2';
    await clock.advance(10_000); // the poll starts a fetch that never answers
    const pending = lease.reissue();
    await Promise.all([lease.close(), lease.close()]);
    await expect(pending).rejects.toMatchObject({ code: 'SOURCE_CLOSED' });
    await expect(lease.ready()).rejects.toMatchObject({ code: 'SOURCE_CLOSED' });
    await expect(lease.reissue()).rejects.toMatchObject({ code: 'SOURCE_CLOSED' });
    expect(() => lease.current()).toThrow(/test "db\/app": the lease was closed/);
    expect(lease.peek()).toBeUndefined();
    expect(lease.state).toBe('revoked');
    expect(clock.pendingCount).toBe(0);
    expect(source.closed).toBe(1);
    expect(events.at(-1)?.payload).toEqual({ leaseId: '', generation: 1, reason: 'closed' });
    await lease.revoke();
    expect(source.closed).toBe(1);
  });

  it('close() while the first fetch is retrying: ready() rejects with SOURCE_CLOSED, no timer left', async () => {
    const { clock, lease } = setup({}, 'session', true, (s) => s.fetchFailures.push(unavailable()));
    const ready = lease.ready().catch((e: unknown) => e);
    await clock.advance(0);
    await lease.close();
    expect(await ready).toMatchObject({ code: 'SOURCE_CLOSED' });
    expect(clock.pendingCount).toBe(0);
    await flush();
  });
});

describe('createSourceLease: options and secrets', () => {
  it('rejects bad options with SOURCE_CONFIG naming the option', () => {
    const clock = new ManualClock(T0);
    const source = new TestSource(clock);
    const err = (() => {
      try {
        createSourceLease(source, { pollIntervalMs: -1 });
      } catch (e) {
        return e;
      }
    })();
    expect(CredentialSourceError.is(err, 'SOURCE_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('createSourceLease.pollIntervalMs');
    expect(() => createSourceLease(source, { retry: { initialMs: 5000, maxMs: 1000 } })).toThrow(
      /retry\.initialMs must not exceed/,
    );
    expect(() => createSourceLease(source, { bogus: 1 } as never)).toThrow(/bogus/);
    expect(() => createSourceLease({ ...source, fetch: source.fetch, binding: 'forever' } as never)).toThrow(
      /binding.*must be "session" or "login"/,
    );
    expect(() => createSourceLease({ kind: 'x', name: 'y', binding: 'session' } as never)).toThrow(
      /fetch.*must be a function/,
    );
    expect(clock.pendingCount).toBe(0);
  });

  it('no secret in events, client events, errors or util.inspect', async () => {
    const { clock, source, lease, events, client } = setup({ pollIntervalMs: 1000 });
    await lease.ready();
    source.current = 'v2';
    await clock.advance(1000);
    source.fetchFailures.push(unavailable());
    source.current = 'v3';
    const reissued = lease.reissue();
    await clock.advance(5000);
    expect((await reissued).generation).toBe(3);
    const text = [
      inspect(events, { depth: 10 }),
      JSON.stringify(client),
      inspect(lease, { depth: 10 }),
    ].join();
    expect(text).not.toContain(SECRET);
    expect(lease.current().value.password.reveal()).toBe(`${SECRET}-v3`);
    await lease.close();
  });
});

describe('CredentialSourceError', () => {
  it('names the source, keeps the cause, defaults retryable from the code, is recognised by brand', () => {
    const cause = new Error('ThrottlingException');
    const err = new CredentialSourceError('SOURCE_UNAVAILABLE', 'throttled; retrying', {
      source: { kind: 'aws-secrets-manager', name: 'prod/db' },
      cause,
    });
    expect(err.message).toBe('aws-secrets-manager "prod/db": throttled; retrying');
    expect(err.name).toBe('CredentialSourceError');
    expect(err.cause).toBe(cause);
    expect(err.retryable).toBe(true);
    expect(err.source).toEqual({ kind: 'aws-secrets-manager', name: 'prod/db' });
    expect(err).toBeInstanceOf(CredentialSourceError);
    expect(err).toBeInstanceOf(Error);
    expect(new CredentialSourceError('SOURCE_NOT_FOUND', 'x', { source: err.source }).retryable).toBe(false);
    expect(new CredentialSourceError('SOURCE_TIMEOUT', 'x', { source: err.source }).retryable).toBe(true);
    // Another copy of the library (same brand, other prototype).
    const foreign = Object.assign(Object.create(Error.prototype), { code: 'SOURCE_CLOSED' });
    Object.defineProperty(foreign, Symbol.for('leasehold.credential-source-error'), { value: true });
    expect(foreign).toBeInstanceOf(CredentialSourceError);
    expect(CredentialSourceError.is(foreign, 'SOURCE_CLOSED')).toBe(true);
    expect(CredentialSourceError.is(new Error('x'))).toBe(false);
  });
});
