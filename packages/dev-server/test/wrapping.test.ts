import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, ManualClock, startDevServer } from '../src/index.js';
import { call } from './helpers.js';

let server: DevServer;
const clock = new ManualClock();
beforeAll(async () => {
  server = await startDevServer({ clock });
  await call(server, 'POST', 'secret/data/wrapped', { body: { data: { password: 'hunter2' } } });
});
afterAll(async () => {
  await server.close();
});

const INVALID = 'wrapping token is not valid or does not exist';

describe('response wrapping', () => {
  it('wraps any response with X-Vault-Wrap-TTL and returns only wrap_info', async () => {
    const res = await call(server, 'GET', 'secret/data/wrapped', { headers: { 'x-vault-wrap-ttl': '5m' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      request_id: '',
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: null,
      auth: null,
    });
    expect(res.body.wrap_info).toMatchObject({ ttl: 300, creation_path: 'secret/data/wrapped' });
    expect(res.body.wrap_info.token).toMatch(/^hvs\./);
    expect(res.body.wrap_info.creation_time).toMatch(/^\d{4}-/);
    expect(res.text).not.toContain('hunter2');

    const lookup = await call(server, 'POST', 'sys/wrapping/lookup', {
      token: null,
      body: { token: res.body.wrap_info.token },
    });
    expect(lookup.body.data).toMatchObject({ creation_path: 'secret/data/wrapped', creation_ttl: 300 });

    // Unwrap with the wrapping token as the client token (no body).
    const unwrap = await call(server, 'POST', 'sys/wrapping/unwrap', { token: res.body.wrap_info.token });
    expect(unwrap.status).toBe(200);
    expect(unwrap.body.data.data).toEqual({ password: 'hunter2' });
    expect(unwrap.body.request_id).toBeTruthy();
    const again = await call(server, 'POST', 'sys/wrapping/unwrap', { token: res.body.wrap_info.token });
    expect(again.status).toBe(400);
    expect(again.body.errors).toEqual([INVALID]);
  });

  it('unwraps with the token in the body (authenticated caller), single use', async () => {
    const res = await call(server, 'POST', 'sys/wrapping/wrap', {
      body: { a: 'b' },
      headers: { 'x-vault-wrap-ttl': '60' },
    });
    expect(res.body.wrap_info.ttl).toBe(60);
    const t = await call(server, 'POST', 'auth/token/create', { body: { policies: ['default'] } });
    const token = t.body.auth.client_token;
    const unwrap = await call(server, 'POST', 'sys/wrapping/unwrap', {
      token,
      body: { token: res.body.wrap_info.token },
    });
    expect(unwrap.body.data).toEqual({ a: 'b' });
    const again = await call(server, 'POST', 'sys/wrapping/unwrap', {
      token,
      body: { token: res.body.wrap_info.token },
    });
    expect(again.body.errors).toEqual([INVALID]);
  });

  it('sys/wrapping/wrap defaults to 5m; rewrap issues a new token', async () => {
    const res = await call(server, 'POST', 'sys/wrapping/wrap', { body: { k: 'v' } });
    expect(res.body.wrap_info.ttl).toBe(300);
    const rewrap = await call(server, 'POST', 'sys/wrapping/rewrap', {
      body: { token: res.body.wrap_info.token },
    });
    expect(rewrap.body.wrap_info.token).not.toBe(res.body.wrap_info.token);
    expect(
      (await call(server, 'POST', 'sys/wrapping/unwrap', { body: { token: res.body.wrap_info.token } }))
        .status,
    ).toBe(400);
    const unwrap = await call(server, 'POST', 'sys/wrapping/unwrap', {
      body: { token: rewrap.body.wrap_info.token },
    });
    expect(unwrap.body.data).toEqual({ k: 'v' });
  });

  it('wraps tokens with wrapped_accessor', async () => {
    const res = await call(server, 'POST', 'auth/token/create', {
      body: { ttl: 60 },
      headers: { 'x-vault-wrap-ttl': '1m' },
    });
    expect(res.body.auth).toBeNull();
    expect(res.body.wrap_info.wrapped_accessor).toMatch(/^[A-Za-z0-9]{24}$/);
    const unwrap = await call(server, 'POST', 'sys/wrapping/unwrap', { token: res.body.wrap_info.token });
    expect(unwrap.body.auth.accessor).toBe(res.body.wrap_info.wrapped_accessor);
    expect(
      (await call(server, 'GET', 'auth/token/lookup-self', { token: unwrap.body.auth.client_token })).status,
    ).toBe(200);
  });

  it('rejects bad wrap TTL headers and expires wrapping tokens', async () => {
    const neg = await call(server, 'GET', 'secret/data/wrapped', { headers: { 'x-vault-wrap-ttl': '-5' } });
    expect(neg.status).toBe(400);
    expect(neg.body.errors).toEqual(['requested wrap ttl cannot be negative']);
    const bad = await call(server, 'GET', 'secret/data/wrapped', { headers: { 'x-vault-wrap-ttl': 'soon' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0]).toMatch(/^error parsing X-Vault-Wrap-TTL header: /);
    const short = await call(server, 'GET', 'secret/data/wrapped', { headers: { 'x-vault-wrap-ttl': '1' } });
    expect(short.body.wrap_info.creation_time).toBe(new Date(clock.now()).toISOString());
    await clock.advance(999);
    const live = await call(server, 'POST', 'sys/wrapping/lookup', {
      token: null,
      body: { token: short.body.wrap_info.token },
    });
    expect(live.status).toBe(200);
    await clock.advance(1);
    const expired = await call(server, 'POST', 'sys/wrapping/unwrap', {
      body: { token: short.body.wrap_info.token },
    });
    expect(expired.status).toBe(400);
    expect(expired.body.errors).toEqual([INVALID]);
    const unknown = await call(server, 'POST', 'sys/wrapping/lookup', {
      token: null,
      body: { token: 'hvs.nope' },
    });
    expect(unknown.body.errors).toEqual([INVALID]);
  });
});
