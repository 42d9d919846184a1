import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DopplerStandIn, startDopplerStandIn } from '../src/index.js';

describe('startDopplerStandIn', () => {
  let doppler: DopplerStandIn;
  const download = (token: string | undefined, query = 'format=json', headers: Record<string, string> = {}) =>
    fetch(`${doppler.url}/v3/configs/config/secrets/download?${query}`, {
      headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...headers },
    });

  beforeAll(async () => {
    doppler = await startDopplerStandIn({ secrets: { DB_USER: 'app', DB_PASSWORD: 'one' } });
  });
  afterAll(async () => {
    await doppler?.close();
  });

  it('serves the download with an ETag, 304 for a matching If-None-Match, a new ETag after a change', async () => {
    const first = await download(doppler.serviceToken);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ DB_USER: 'app', DB_PASSWORD: 'one' });
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[0-9a-f]{40}"$/);

    const again = await download(doppler.serviceToken, 'format=json', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');

    doppler.updateSecrets({ DB_PASSWORD: 'two' });
    const changed = await download(doppler.serviceToken, 'format=json', { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(await changed.json()).toEqual({ DB_USER: 'app', DB_PASSWORD: 'two' });
    expect(doppler.requests.slice(-3).map((r) => r.status)).toEqual([200, 304, 200]);
  });

  it('accepts HTTP Basic with the token as user name and lists secrets as raw/computed', async () => {
    const basic = Buffer.from(`${doppler.serviceToken}:`).toString('base64');
    const res = await fetch(`${doppler.url}/v3/configs/config/secrets`, {
      headers: { authorization: `Basic ${basic}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { success: boolean; secrets: Record<string, { computed: string }> };
    expect(body.success).toBe(true);
    expect(body.secrets.DB_USER?.computed).toBe('app');
    expect(doppler.requests.at(-1)?.auth).toBe('basic');
  });

  it("refuses bad, revoked and foreign tokens and a personal token without project/config with Doppler's error shape", async () => {
    expect(await (await download(undefined)).json()).toEqual({
      messages: ['Missing authentication token'],
      success: false,
    });
    const bad = await download('dp.st.prd.nope');
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ messages: ['Invalid Auth token'], success: false });
    expect((await download(doppler.foreignServiceToken)).status).toBe(403);
    expect((await download(doppler.personalToken)).status).toBe(400);
    expect((await download(doppler.personalToken, 'format=json&project=app&config=dev')).status).toBe(404);
    expect((await download(doppler.personalToken, 'format=json&project=app&config=prd')).status).toBe(200);
  });

  it('fails the next requests as asked, then answers normally again', async () => {
    doppler.failNext({
      status: 429,
      body: { messages: ['Rate limit'], success: false },
      headers: { 'retry-after': '1' },
    });
    doppler.failNext({ status: 200, body: 'not json' });
    doppler.failNext({ reset: true });
    const limited = await download(doppler.serviceToken);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await (await download(doppler.serviceToken)).text()).toBe('not json');
    await expect(download(doppler.serviceToken)).rejects.toThrow();
    expect((await download(doppler.serviceToken)).status).toBe(200);

    const before = doppler.requestCount;
    doppler.revokeToken(doppler.serviceToken);
    expect((await download(doppler.serviceToken)).status).toBe(401);
    expect(doppler.requestCount).toBe(before + 1);
  });
});
