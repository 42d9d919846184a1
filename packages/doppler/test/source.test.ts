import { inspect } from 'node:util';
import { Redacted } from '@leasehold/core';
import { ManualClock } from '@leasehold/dev-server';
import { type DopplerStandIn, startDopplerStandIn, waitFor } from '@leasehold/test-env';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dopplerDatabaseCredentials, dopplerSecrets } from '../src/index.js';

const PASSWORD = 'pw-0123456789-secret';

describe('Doppler sources against the stand-in (real HTTP)', () => {
  let doppler: DopplerStandIn;
  const signal = () => new AbortController().signal;
  const base = () => ({ token: doppler.serviceToken, apiHost: doppler.url, env: {} });

  beforeAll(async () => {
    doppler = await startDopplerStandIn();
  });
  afterAll(async () => {
    await doppler?.close();
  });
  afterEach(() => {
    doppler.setSecrets({ DB_USER: 'app', DB_PASSWORD: PASSWORD, OTHER: 'x' });
  });

  /** Expects `promise` to reject with a CredentialSourceError of `code` whose message matches and leaks nothing. */
  async function expectSourceError(
    promise: Promise<unknown>,
    code: string,
    message: RegExp,
    retryable = false,
  ) {
    const error = (await promise.then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: string; retryable?: boolean; message: string; source?: unknown } | undefined;
    expect(error, 'should have rejected').toBeDefined();
    expect(error?.code).toBe(code);
    expect(error?.retryable).toBe(retryable);
    expect(error?.message).toMatch(/^doppler "/);
    expect(error?.message).toMatch(message);
    for (const secret of [doppler.serviceToken, doppler.personalToken, PASSWORD])
      expect(inspect(error, { depth: 5 })).not.toContain(secret);
    return error;
  }

  it('reads database credentials: Redacted password, binding session, versions stable for the same content', async () => {
    doppler.setSecrets({ DB_USER: 'app', DB_PASSWORD: PASSWORD, OTHER: 'x' });
    const source = dopplerDatabaseCredentials(base());
    expect(source).toMatchObject({ kind: 'doppler', name: 'service-token', binding: 'session' });
    const first = await source.fetch(signal(), 'initial');
    expect(first.value.username).toBe('app');
    expect(Redacted.isRedacted(first.value.password)).toBe(true);
    expect(first.value.password.reveal()).toBe(PASSWORD);
    expect(first.version).toMatch(/^hmac-sha256:[0-9a-f]{32}$/);
    expect(inspect(first)).not.toContain(PASSWORD);
    expect(first.version).not.toContain(PASSWORD);
    expect(inspect(source, { depth: 5 })).not.toContain(doppler.serviceToken);
    expect(doppler.requests.at(-1)).toMatchObject({
      path: '/v3/configs/config/secrets/download',
      query: { format: 'json' },
      auth: 'bearer',
      status: 200,
    });
    expect(doppler.requests.at(-1)?.ifNoneMatch).toBeUndefined();
    await source.close?.();
  });

  it('version() is a conditional request: 304 while unchanged, a new version only when a mapped secret changes', async () => {
    const source = dopplerDatabaseCredentials(base());
    const { version } = await source.fetch(signal(), 'initial');
    const etag = doppler.etag;

    expect(await source.version?.(signal())).toBe(version);
    expect(doppler.requests.at(-1)).toMatchObject({ ifNoneMatch: etag, status: 304 });

    // An unrelated secret changes: Doppler's ETag changes (a 200), the credentials' version does not.
    doppler.updateSecrets({ OTHER: 'y' });
    expect(await source.version?.(signal())).toBe(version);
    expect(doppler.requests.at(-1)).toMatchObject({ ifNoneMatch: etag, status: 200 });
    expect(await source.version?.(signal())).toBe(version);
    expect(doppler.requests.at(-1)).toMatchObject({ ifNoneMatch: doppler.etag, status: 304 });

    doppler.updateSecrets({ DB_PASSWORD: 'rotated-password' });
    const changed = await source.version?.(signal());
    expect(changed).not.toBe(version);
    // The fetch that follows is answered 304 and returns the value that version() saw.
    const fetched = await source.fetch(signal(), 'changed');
    expect(doppler.requests.at(-1)?.status).toBe(304);
    expect(fetched.version).toBe(changed);
    expect(fetched.value.password.reveal()).toBe('rotated-password');

    // Back to the first content: the first version again (stable for the same content).
    doppler.updateSecrets({ DB_PASSWORD: PASSWORD, OTHER: 'x' });
    expect(await source.version?.(signal())).toBe(version);
  });

  it('without ETags (every answer a 200) versions come from the content alone', async () => {
    const plain = await startDopplerStandIn({
      etag: false,
      secrets: { DB_USER: 'app', DB_PASSWORD: PASSWORD },
    });
    try {
      const source = dopplerDatabaseCredentials({ token: plain.serviceToken, apiHost: plain.url, env: {} });
      const { version } = await source.fetch(signal(), 'initial');
      expect(await source.version?.(signal())).toBe(version);
      expect(plain.requests.map((r) => [r.ifNoneMatch, r.status])).toEqual([
        [undefined, 200],
        [undefined, 200],
      ]);
      plain.updateSecrets({ DB_USER: 'app2' });
      expect(await source.version?.(signal())).not.toBe(version);
    } finally {
      await plain.close();
    }
  });

  it('maps other keys, with host, port and database', async () => {
    doppler.setSecrets({
      PGUSER: 'svc',
      PGPASSWORD: PASSWORD,
      PGHOST: 'db.internal',
      PGPORT: '6432',
      PGDATABASE: 'orders',
    });
    const source = dopplerDatabaseCredentials({
      ...base(),
      keys: {
        username: 'PGUSER',
        password: 'PGPASSWORD',
        host: 'PGHOST',
        port: 'PGPORT',
        database: 'PGDATABASE',
      },
    });
    const { value } = await source.fetch(signal(), 'initial');
    expect({ ...value, password: value.password.reveal() }).toEqual({
      username: 'svc',
      password: PASSWORD,
      host: 'db.internal',
      port: 6432,
      database: 'orders',
    });
  });

  it('dopplerSecrets: every secret, or the listed keys, as Redacted values', async () => {
    const all = await dopplerSecrets(base()).fetch(signal(), 'initial');
    expect(Object.keys(all.value).sort()).toEqual(['DB_PASSWORD', 'DB_USER', 'OTHER']);
    expect(all.value.DB_PASSWORD?.reveal()).toBe(PASSWORD);
    expect(JSON.stringify(all.value)).not.toContain(PASSWORD);
    const some = dopplerSecrets({ ...base(), keys: ['OTHER'] });
    const { value, version } = await some.fetch(signal(), 'initial');
    expect(Object.keys(value)).toEqual(['OTHER']);
    doppler.updateSecrets({ DB_PASSWORD: 'changed' });
    expect(await some.version?.(signal())).toBe(version);
    await expectSourceError(
      dopplerSecrets({ ...base(), keys: ['MISSING'] }).fetch(signal(), 'initial'),
      'SOURCE_INVALID_RESPONSE',
      /no secret "MISSING"/,
    );
  });

  it('a personal token reads with project and config; without them it is a SOURCE_CONFIG error', async () => {
    const source = dopplerSecrets({
      token: doppler.personalToken,
      project: 'app',
      config: 'prd',
      apiHost: doppler.url,
      env: {},
    });
    expect(source.name).toBe('app/prd');
    await source.fetch(signal(), 'initial');
    expect(doppler.requests.at(-1)).toMatchObject({
      query: { format: 'json', project: 'app', config: 'prd' },
      status: 200,
    });
    expect(() => dopplerSecrets({ token: doppler.personalToken, apiHost: doppler.url, env: {} })).toThrow(
      expect.objectContaining({
        code: 'SOURCE_CONFIG',
        message: expect.stringMatching(/DOPPLER_PROJECT and DOPPLER_CONFIG/),
      }),
    );
    // From the environment, as the Doppler CLI names the variables.
    const fromEnv = dopplerSecrets({
      env: {
        DOPPLER_TOKEN: doppler.personalToken,
        DOPPLER_PROJECT: 'app',
        DOPPLER_CONFIG: 'dev',
        DOPPLER_API_HOST: doppler.url,
      },
    });
    expect(fromEnv.name).toBe('app/dev');
    await expectSourceError(
      fromEnv.fetch(signal(), 'initial'),
      'SOURCE_NOT_FOUND',
      /Could not find requested config.*DOPPLER_CONFIG/,
    );
  });

  it('a bad, revoked or foreign token is SOURCE_AUTH_FAILED naming doppler and the fix, never the token', async () => {
    const badToken = 'dp.st.prd.thisisnotavalidtoken0000';
    const error = await expectSourceError(
      dopplerDatabaseCredentials({ token: badToken, apiHost: doppler.url, env: {} }).fetch(
        signal(),
        'initial',
      ),
      'SOURCE_AUTH_FAILED',
      /HTTP 401: Invalid Auth token.*Fix: set DOPPLER_TOKEN/,
    );
    expect(inspect(error)).not.toContain(badToken);
    await expectSourceError(
      dopplerSecrets({ token: doppler.foreignServiceToken, apiHost: doppler.url, env: {} }).fetch(
        signal(),
        'initial',
      ),
      'SOURCE_AUTH_FAILED',
      /HTTP 403/,
    );
  });

  it('a missing or malformed token and bad options are SOURCE_CONFIG errors naming the fix', () => {
    expect(() => dopplerSecrets({ env: {} })).toThrow(
      expect.objectContaining({
        code: 'SOURCE_CONFIG',
        message: expect.stringMatching(/Set the DOPPLER_TOKEN environment variable/),
      }),
    );
    expect(() => dopplerSecrets({ token: 'dp.st.x y', env: {} })).toThrow(
      expect.objectContaining({ code: 'SOURCE_CONFIG' }),
    );
    expect(() => dopplerSecrets({ ...base(), apiHost: 'ftp://example.com' })).toThrow(
      /invalid option "apiHost"/,
    );
    expect(() => dopplerSecrets({ ...base(), timeoutMs: 0 })).toThrow(/invalid option "timeoutMs"/);
    expect(() => dopplerDatabaseCredentials({ ...base(), keys: { user: 'X' } as never })).toThrow(
      /unknown key "keys.user"/,
    );
    try {
      dopplerSecrets({ token: `${doppler.serviceToken}\n`, env: {}, timeoutMs: -1 });
    } catch (error) {
      expect(inspect(error)).not.toContain(doppler.serviceToken);
    }
  });

  it('malformed answers are SOURCE_INVALID_RESPONSE naming the secret, never its value', async () => {
    const source = () => dopplerDatabaseCredentials(base());
    doppler.failNext({ status: 200, body: 'not json' });
    await expectSourceError(source().fetch(signal(), 'initial'), 'SOURCE_INVALID_RESPONSE', /not JSON/);
    doppler.failNext({ status: 200, body: [PASSWORD] });
    await expectSourceError(source().fetch(signal(), 'initial'), 'SOURCE_INVALID_RESPONSE', /is an array/);
    doppler.failNext({ status: 200, body: { DB_USER: 'app', DB_PASSWORD: 12345 } });
    await expectSourceError(
      source().fetch(signal(), 'initial'),
      'SOURCE_INVALID_RESPONSE',
      /secret "DB_PASSWORD".*is a number/,
    );
    doppler.failNext({ status: 302, body: '' });
    await expectSourceError(
      source().fetch(signal(), 'initial'),
      'SOURCE_INVALID_RESPONSE',
      /unexpected HTTP 302/,
    );
    doppler.failNext({ status: 304 });
    await expectSourceError(
      source().fetch(signal(), 'initial'),
      'SOURCE_INVALID_RESPONSE',
      /304 Not Modified to an unconditional/,
    );

    doppler.setSecrets({ DB_USER: 'app' });
    await expectSourceError(
      source().fetch(signal(), 'initial'),
      'SOURCE_INVALID_RESPONSE',
      /no secret "DB_PASSWORD" \(the database password\)/,
    );
    doppler.setSecrets({ DB_USER: '', DB_PASSWORD: PASSWORD });
    await expectSourceError(
      source().fetch(signal(), 'initial'),
      'SOURCE_INVALID_RESPONSE',
      /secret "DB_USER" \(the database username\) must be a non-empty/,
    );
    doppler.setSecrets({ DB_USER: 'app', DB_PASSWORD: PASSWORD, DB_PORT: '70000' });
    await expectSourceError(
      dopplerDatabaseCredentials({ ...base(), keys: { port: 'DB_PORT' } }).fetch(signal(), 'initial'),
      'SOURCE_INVALID_RESPONSE',
      /secret "DB_PORT" \(the database port\) must be an integer from 1 to 65535/,
    );
    doppler.setSecrets({ DB_USER: 'app', DB_PASSWORD: PASSWORD, DB_HOST: 'db host/with spaces' });
    const hostError = await expectSourceError(
      dopplerDatabaseCredentials({ ...base(), keys: { host: 'DB_HOST' } }).fetch(signal(), 'initial'),
      'SOURCE_INVALID_RESPONSE',
      /secret "DB_HOST" \(the database host\) is not usable: .*"host" must be a host name/,
    );
    expect(hostError?.message).not.toContain('db host/with spaces');
  });

  it('network errors, 5xx and 429 are retryable SOURCE_UNAVAILABLE', async () => {
    const source = dopplerDatabaseCredentials(base());
    doppler.failNext({ status: 503, body: { messages: ['Service unavailable'], success: false } });
    await expectSourceError(
      source.fetch(signal(), 'initial'),
      'SOURCE_UNAVAILABLE',
      /HTTP 503: Service unavailable/,
      true,
    );
    doppler.failNext({
      status: 429,
      body: { messages: ['Rate limit exceeded'], success: false },
      headers: { 'retry-after': '30' },
    });
    await expectSourceError(
      source.fetch(signal(), 'initial'),
      'SOURCE_UNAVAILABLE',
      /HTTP 429.*Retry-After: 30/,
      true,
    );
    doppler.failNext({ reset: true });
    await expectSourceError(
      source.fetch(signal(), 'initial'),
      'SOURCE_UNAVAILABLE',
      /cannot reach the Doppler API/,
      true,
    );
    const closed = await startDopplerStandIn();
    await closed.close();
    await expectSourceError(
      dopplerSecrets({ token: doppler.serviceToken, apiHost: closed.url, env: {} }).fetch(
        signal(),
        'initial',
      ),
      'SOURCE_UNAVAILABLE',
      /ECONNREFUSED/,
      true,
    );
    expect((await source.fetch(signal(), 'initial')).value.username).toBe('app');
  });

  it('a request without answer times out at exactly timeoutMs on the injected clock (SOURCE_TIMEOUT, retryable)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const source = dopplerDatabaseCredentials({ ...base(), clock, timeoutMs: 5000 });
    const before = doppler.requestCount;
    doppler.failNext({ hang: true });
    let settled = false;
    const pending = source.fetch(signal(), 'initial').finally(() => {
      settled = true;
    });
    pending.catch(() => undefined);
    await waitFor('the request reached the stand-in', () => doppler.requestCount > before);
    expect(clock.nextTimerAt()).toBe(Date.UTC(2026, 0, 1) + 5000);
    await clock.advance(4999);
    expect(settled).toBe(false);
    await clock.advance(1);
    await expectSourceError(pending, 'SOURCE_TIMEOUT', /no answer from Doppler within 5000 ms/, true);
    expect(clock.pendingCount).toBe(0);
  });

  it("honours the caller's AbortSignal and close(): the request ends, the timer is cleared", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const source = dopplerDatabaseCredentials({ ...base(), clock });
    const controller = new AbortController();
    let before = doppler.requestCount;
    doppler.failNext({ hang: true });
    const aborted = source.fetch(controller.signal, 'initial');
    await waitFor('the request reached the stand-in', () => doppler.requestCount > before);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect(clock.pendingCount).toBe(0);
    await expect(source.fetch(AbortSignal.abort(reason), 'initial')).rejects.toBe(reason);

    before = doppler.requestCount;
    doppler.failNext({ hang: true });
    const inFlight = source.fetch(signal(), 'initial');
    await waitFor('the request reached the stand-in', () => doppler.requestCount > before);
    await source.close?.();
    await expect(inFlight).rejects.toMatchObject({ code: 'SOURCE_CLOSED' });
    await expect(source.fetch(signal(), 'initial')).rejects.toMatchObject({ code: 'SOURCE_CLOSED' });
    expect(clock.pendingCount).toBe(0);
  });
});
