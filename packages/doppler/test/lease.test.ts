import { createSourceLease, type DatabaseCredentials, type LeaseRotateEvent } from '@leasehold/core';
import { ManualClock } from '@leasehold/dev-server';
import { type DopplerStandIn, startDopplerStandIn, waitFor } from '@leasehold/test-env';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDopplerLease, dopplerDatabaseCredentials } from '../src/index.js';

const T0 = Date.UTC(2026, 0, 1);
const POLL_MS = 60_000;

describe('a Doppler source driven by createSourceLease (ManualClock, real HTTP to the stand-in)', () => {
  let doppler: DopplerStandIn;

  beforeAll(async () => {
    doppler = await startDopplerStandIn({ secrets: { DB_USER: 'app', DB_PASSWORD: 'one' } });
  });
  afterAll(async () => {
    await doppler?.close();
  });

  it('a change in the config reaches the lease at the first poll after it, within one poll interval', async () => {
    doppler.setSecrets({ DB_USER: 'app', DB_PASSWORD: 'one' });
    const clock = new ManualClock(T0);
    const lease = createSourceLease(
      dopplerDatabaseCredentials({ token: doppler.serviceToken, apiHost: doppler.url, env: {} }),
      {
        clock,
        random: () => 0,
        pollIntervalMs: POLL_MS,
      },
    );
    const rotations: Array<{ at: number; event: LeaseRotateEvent<DatabaseCredentials> }> = [];
    lease.on('rotated', (event) => {
      rotations.push({ at: clock.now(), event });
    });
    try {
      const first = await lease.ready();
      expect(first.value.password.reveal()).toBe('one');
      const afterIssue = doppler.requestCount;

      // Unchanged config: the poll at T0 + 60 s is one conditional request answered 304, no rotation.
      await clock.advance(POLL_MS);
      await waitFor('the first poll', () => doppler.requestCount > afterIssue);
      expect(doppler.requests.at(-1)).toMatchObject({ status: 304, ifNoneMatch: expect.any(String) });
      expect(rotations).toEqual([]);

      // The password changes 1 ms after that poll: nothing is requested until the next poll instant…
      await clock.advance(1);
      doppler.updateSecrets({ DB_PASSWORD: 'two' });
      const beforeNextPoll = doppler.requestCount;
      await clock.advance(POLL_MS - 2);
      expect(doppler.requestCount).toBe(beforeNextPoll);
      expect(lease.current().value.password.reveal()).toBe('one');

      // …which is T0 + 120 s: within one interval of the change.
      await clock.advance(1);
      await waitFor('the rotation', () => rotations.length === 1);
      expect(rotations[0]?.at).toBe(T0 + 2 * POLL_MS);
      expect(rotations[0]?.event.current.value.password.reveal()).toBe('two');
      expect(rotations[0]?.event.previous.value.password.reveal()).toBe('one');
      expect(lease.current().value.password.reveal()).toBe('two');
    } finally {
      await lease.close();
    }
  });

  it('createDopplerLease: a bad token fails ready() with the typed error naming doppler and the fix', async () => {
    const lease = createDopplerLease({ token: 'dp.st.prd.not-a-token', apiHost: doppler.url, env: {} });
    try {
      const error = await lease.ready({ timeoutMs: 10_000 }).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message: string; cause?: { code?: string; message: string } },
      );
      expect(error).toBeDefined();
      const typed = error?.code === 'SOURCE_AUTH_FAILED' ? error : error?.cause;
      expect(typed?.code).toBe('SOURCE_AUTH_FAILED');
      expect(typed?.message).toMatch(
        /^doppler "service-token": Doppler refused the token \(HTTP 401.*DOPPLER_TOKEN/,
      );
      expect(JSON.stringify(error)).not.toContain('dp.st.prd.not-a-token');
    } finally {
      await lease.close();
    }
  });
});
