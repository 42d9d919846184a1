import { inspect } from 'node:util';
import { CredentialSourceError } from '@leasehold/core';
import { ManualClock } from '@leasehold/dev-server';
import { createRdsIamCheck, RdsTokenRefused, waitFor } from '@leasehold/test-env';
import { describe, expect, it } from 'vitest';
import { type RdsIamCredentialsOptions, rdsIamCredentials, rdsIamLease } from '../src/index.js';
import { APP, REGION } from './helpers.js';

const signal = new AbortController().signal;
const HOST = 'app.cluster-abc.us-east-1.rds.amazonaws.com';
const credentials = { accessKeyId: APP.accessKeyId, secretAccessKey: APP.secretAccessKey };

function options(extra: Partial<RdsIamCredentialsOptions> = {}): RdsIamCredentialsOptions {
  return {
    hostname: HOST,
    port: 5432,
    username: 'app',
    database: 'app',
    region: REGION,
    credentials,
    ...extra,
  };
}

describe('rdsIamCredentials', () => {
  it('signs an RDS auth token: the presigned rds-db:connect URL, valid for the test credentials', async () => {
    const src = rdsIamCredentials(options());
    expect(src).toMatchObject({ kind: 'rds-iam', name: `${HOST}:5432/app`, binding: 'login' });
    const got = await src.fetch(signal, 'initial');
    const token = got.value.password.reveal();
    expect(token).toMatch(
      new RegExp(
        `^${HOST.replaceAll('.', '\\.')}:5432/\\?Action=connect&DBUser=app&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${APP.accessKeyId}%2F\\d{8}%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=\\d{8}T\\d{6}Z&X-Amz-Expires=900&X-Amz-Signature=[0-9a-f]{64}&X-Amz-SignedHeaders=host$`,
      ),
    );
    expect(got.value).toMatchObject({ username: 'app', host: HOST, port: 5432, database: 'app' });
    const check = createRdsIamCheck({ identities: [APP], hostname: HOST, port: 5432, region: REGION });
    expect(await check.verify(token)).toMatchObject({
      user: 'app',
      accessKeyId: APP.accessKeyId,
      expiresIn: 900,
    });
    // The same token is refused for another secret key, another endpoint, or after 15 minutes.
    const other = createRdsIamCheck({
      identities: [{ ...APP, secretAccessKey: 'other' }],
      hostname: HOST,
      port: 5432,
    });
    await expect(other.verify(token)).rejects.toThrow(RdsTokenRefused);
    expect(other.refused[0]).toMatch(/^mismatch/);
    await expect(
      createRdsIamCheck({ identities: [APP], hostname: HOST, port: 5433 }).verify(token),
    ).rejects.toThrow(/not for/);
    const late = createRdsIamCheck({
      identities: [APP],
      hostname: HOST,
      port: 5432,
      now: () => Date.now() + 16 * 60_000,
    });
    await expect(late.verify(token)).rejects.toThrow(/expired/);
  });

  it('expiresAt is the signing instant + 15 min (or tokenLifetimeMs); version() is the held token, without a request', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
    const src = rdsIamCredentials(options({ clock }));
    await expect(src.version?.(signal)).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
    const first = await src.fetch(signal, 'initial');
    expect(first.expiresAt).toBe(Date.UTC(2026, 5, 1, 12, 15, 0));
    expect(await src.version?.(signal)).toBe(first.version);
    await clock.advance(60_000);
    const second = await src.fetch(signal, 'refresh');
    expect(second.expiresAt).toBe(Date.UTC(2026, 5, 1, 12, 16, 0));
    expect(second.version).not.toBe(first.version);
    expect(await src.version?.(signal)).toBe(second.version);

    const short = rdsIamCredentials(options({ clock, tokenLifetimeMs: 4000 }));
    expect((await short.fetch(signal, 'initial')).expiresAt).toBe(Date.UTC(2026, 5, 1, 12, 1, 4));
  });

  it('the token stays out of inspect, JSON, the version and the source', async () => {
    const src = rdsIamCredentials(options());
    const got = await src.fetch(signal, 'initial');
    const signature = /X-Amz-Signature=([0-9a-f]{64})/.exec(got.value.password.reveal())?.[1] ?? 'none';
    for (const text of [
      inspect(got, { depth: 10 }),
      JSON.stringify(got),
      got.version,
      inspect(src, { showHidden: true }),
    ]) {
      expect(text).not.toContain(signature);
      expect(text).not.toContain(APP.secretAccessKey);
    }
  });

  it('a credential provider that fails is a retryable SOURCE_UNAVAILABLE naming the source', async () => {
    const src = rdsIamCredentials(
      options({
        credentials: async () => {
          throw new Error('no credentials in the environment');
        },
      }),
    );
    const error = await src.fetch(signal, 'initial').catch((e: unknown) => e);
    expect(CredentialSourceError.is(error, 'SOURCE_UNAVAILABLE')).toBe(true);
    expect((error as CredentialSourceError).retryable).toBe(true);
    expect((error as Error).message).toContain(`rds-iam "${HOST}:5432/app"`);
  });

  it('bad options are SOURCE_CONFIG naming the option', () => {
    const bad = (o: Partial<RdsIamCredentialsOptions>): string => {
      try {
        rdsIamCredentials({ ...options(), ...o });
      } catch (e) {
        expect(CredentialSourceError.is(e, 'SOURCE_CONFIG')).toBe(true);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(bad({ port: 0 })).toContain('port');
    expect(bad({ hostname: '' })).toContain('hostname');
    expect(bad({ tokenLifetimeMs: 900_001 })).toContain('tokenLifetimeMs');
    expect(bad({ region: 'nowhere' })).toContain('region');
  });

  it('as a lease: a new token before the old one runs out, open connections kept (no retirement)', async () => {
    const start = Date.UTC(2026, 5, 1, 12, 0, 0);
    const clock = new ManualClock(start);
    const lease = rdsIamLease(options({ clock, tokenLifetimeMs: 60_000 }), { clock, pollIntervalMs: 0 });
    try {
      const first = await lease.ready();
      const rotations: Array<{ at: number; reason: string; retirePrevious: boolean }> = [];
      lease.on('rotated', (e) =>
        rotations.push({ at: clock.now(), reason: e.reason, retirePrevious: e.retirePrevious }),
      );
      const refreshAt = clock.nextTimerAt();
      // Refreshed ahead of the 60 s expiry by the default margin: 20 % of the lifetime, at least 30 s, at most half.
      expect(refreshAt).toBe(start + 30_000);
      await clock.advanceTo(refreshAt as number);
      await waitFor('the refreshed token', () => rotations.length > 0, 10_000);
      expect(rotations).toEqual([{ at: refreshAt, reason: 'refresh', retirePrevious: false }]);
      expect(lease.current().generation).toBe(first.generation + 1);
      // The new token was signed at the refresh instant: it ends 60 s later and is refreshed 30 s later.
      expect(lease.current().expiresAt).toBe(start + 90_000);
      expect(first.expiresAt).toBe(start + 60_000);
      await waitFor('the next refresh armed', () => clock.nextTimerAt() === start + 60_000, 10_000);
    } finally {
      await lease.close();
    }
  });
});
