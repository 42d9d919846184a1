import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock, startDevServer, systemClock } from '../src/index.js';
import { scheduleAt, sleep } from '../src/util/timer.js';
import { newState, testEngine } from './fixtures.js';
import { call } from './helpers.js';

const START = Date.UTC(2026, 0, 1);

describe('ManualClock', () => {
  it('starts where told (number or Date) and validates its input', () => {
    expect(new ManualClock(START).now()).toBe(START);
    expect(new ManualClock(new Date(START)).now()).toBe(START);
    expect(new ManualClock().now() % 1000).toBe(0);
    expect(() => new ManualClock(Number.NaN)).toThrow(/`start` must be a finite time/);
  });

  it('fires due timers in order of due time, at their own instants, and never synchronously', async () => {
    const clock = new ManualClock(START);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now() - START}`), 2000);
    clock.setTimeout(() => fired.push(`a@${clock.now() - START}`), 1000);
    clock.setTimeout(() => fired.push(`now@${clock.now() - START}`), 0);
    expect(fired).toEqual([]);
    await clock.advance(1999);
    expect(fired).toEqual(['now@0', 'a@1000']);
    expect(clock.now()).toBe(START + 1999);
    await clock.advance(1);
    expect(fired).toEqual(['now@0', 'a@1000', 'b@2000']);
    expect(clock.pendingCount).toBe(0);
  });

  it('handles delays above 2^31-1 ms and cancels timers', async () => {
    const clock = new ManualClock(START);
    const year = 365 * 24 * 3600 * 1000;
    let fired = 0;
    scheduleAt(START + year, () => fired++, clock);
    const cancelled = scheduleAt(START + 1000, () => fired++, clock);
    cancelled.clear();
    expect(clock.nextTimerAt()).toBe(START + year);
    await clock.advance(2 ** 31);
    expect(fired).toBe(0);
    await clock.advanceTo(START + year);
    expect(fired).toBe(1);
    expect(clock.nextTimerAt()).toBeUndefined();
  });

  it('waits for a timer’s async work before a later instant; same-instant timers run together', async () => {
    const clock = new ManualClock(START);
    const events: string[] = [];
    const work = (name: string) => async () => {
      events.push(`${name} start`);
      await new Promise<void>((resolve) => setImmediate(resolve));
      events.push(`${name} end`);
    };
    clock.setTimeout(work('x'), 1000);
    clock.setTimeout(work('y'), 1000);
    clock.setTimeout(work('z'), 1001);
    await clock.advance(5000);
    expect(events).toEqual(['x start', 'y start', 'x end', 'y end', 'z start', 'z end']);
  });

  it('sleep() on the clock resolves when time is advanced past it', async () => {
    const clock = new ManualClock(START);
    let done = false;
    const slept = sleep(60_000, clock).then(() => {
      done = true;
    });
    await clock.advance(59_999);
    expect(done).toBe(false);
    await clock.advance(1);
    await slept;
    expect(done).toBe(true);
  });

  it('runNext() jumps to the next timer; time never goes backwards; a failing timer rejects advance', async () => {
    const clock = new ManualClock(START);
    clock.setTimeout(() => undefined, 5000);
    expect(await clock.runNext()).toBe(true);
    expect(clock.now()).toBe(START + 5000);
    expect(await clock.runNext()).toBe(false);
    await expect(clock.advanceTo(START)).rejects.toThrow(/cannot go back in time/);
    await expect(clock.advance(-1)).rejects.toThrow(RangeError);
    clock.setTimeout(() => {
      throw new Error('boom');
    }, 10);
    await expect(clock.advance(10)).rejects.toThrow('boom');
    // The clock stays usable.
    await clock.advance(10);
    expect(clock.now()).toBe(START + 5020);
  });

  it('the system clock fires real timers and ignores unknown handles', async () => {
    const fired = await new Promise<number>((resolve) => {
      systemClock.setTimeout(() => resolve(systemClock.now()), 1);
    });
    expect(fired).toBeGreaterThan(0);
    const long = systemClock.setTimeout(
      () => {
        throw new Error('must not fire');
      },
      2 ** 31 + 10,
    );
    systemClock.clearTimeout(long);
    systemClock.clearTimeout({});
  });
});

describe('startDevServer({ clock })', () => {
  it('rejects something that is not a clock', async () => {
    await expect(startDevServer({ clock: { now: () => 0 } as unknown as ManualClock })).rejects.toThrow(
      /`clock` must have now\(\), setTimeout\(fn, ms\) and clearTimeout\(handle\)/,
    );
  });

  it('stamps and expires on the injected clock, and close() clears every timer it set', async () => {
    const clock = new ManualClock(START);
    const state = newState();
    const server = await startDevServer({ clock, secretEngines: { test: testEngine(state) } });
    try {
      expect(server.clock).toBe(clock);
      await server.mount('db', 'test');
      const token = await call(server, 'POST', 'auth/token/create', { body: { ttl: '1h' } });
      const lookup = await call(server, 'GET', 'auth/token/lookup-self', {
        token: token.body.auth.client_token,
      });
      expect(lookup.body.data).toMatchObject({
        creation_time: START / 1000,
        issue_time: new Date(START).toISOString(),
        expire_time: new Date(START + 3_600_000).toISOString(),
        ttl: 3600,
      });
      const lease = await call(server, 'GET', 'db/creds/app?ttl=90');
      const wrapped = await call(server, 'POST', 'sys/wrapping/wrap', {
        body: { a: '1' },
        headers: { 'x-vault-wrap-ttl': '30' },
      });
      expect(wrapped.body.wrap_info.creation_time).toBe(new Date(START).toISOString());
      expect(server.requests().at(-1)?.time).toBe(new Date(START).toISOString());
      expect(clock.pendingCount).toBe(3);
      await clock.advance(90_000);
      expect(state.revoked.map((l) => l.leaseId)).toEqual([lease.body.lease_id]);
      await clock.advance(3_510_000);
      expect(
        (await call(server, 'GET', 'auth/token/lookup-self', { token: token.body.auth.client_token })).status,
      ).toBe(403);
      await call(server, 'POST', 'auth/token/create', { body: { ttl: '768h' } });
      expect(clock.pendingCount).toBe(1);
    } finally {
      await server.close();
    }
    expect(clock.pendingCount).toBe(0);
  });

  it('issues PKI certificates on the injected clock (NotBefore backdated 30 s, NotAfter = now + ttl)', async () => {
    const clock = new ManualClock(START);
    const server = await startDevServer({ clock });
    try {
      await call(server, 'POST', 'sys/mounts/pki', {
        body: { type: 'pki', config: { max_lease_ttl: '87600h' } },
      });
      await call(server, 'POST', 'pki/root/generate/internal', {
        body: { common_name: 'Clock Root', ttl: '8760h' },
      });
      await call(server, 'POST', 'pki/roles/web', {
        body: { allowed_domains: 'example.com', allow_subdomains: true },
      });
      await clock.advance(3_600_000);
      const issued = await call(server, 'POST', 'pki/issue/web', {
        body: { common_name: 'a.example.com', ttl: '2h' },
      });
      expect(issued.status).toBe(200);
      const now = START + 3_600_000;
      expect(issued.body.data.expiration).toBe((now + 7_200_000) / 1000);
      const cert = new X509Certificate(issued.body.data.certificate);
      expect(Date.parse(cert.validFrom)).toBe(now - 30_000);
      expect(Date.parse(cert.validTo)).toBe(now + 7_200_000);
    } finally {
      await server.close();
    }
  });
});
