import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';
import { newState, testEngine } from './fixtures.js';
import { call } from './helpers.js';

const state = newState();
let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({
    secretEngines: { test: testEngine(state) },
    authMethods: { test: testEngine(state) },
  });
  await server.mount('db', 'test');
  await server.enableAuth('test', 'test');
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.clearFaults();
  server.clearRequests();
});

describe('programmatic control surface', () => {
  it('counts requests in the log (never bodies or tokens) and filters them', async () => {
    await call(server, 'POST', 'auth/test/login', { token: null, body: { password: 'open-sesame' } });
    await call(server, 'GET', 'secret/data/x');
    await call(server, 'GET', 'sys/health', { token: null });
    expect(server.requests({ method: 'POST', path: 'auth/test/login' })).toHaveLength(1);
    expect(server.requests({ path: 'auth/*/login' })).toHaveLength(1);
    expect(server.requests({ status: 404 })).toHaveLength(1);
    expect(server.requests()).toHaveLength(3);
    const entry = server.requests()[0];
    expect(Object.keys(entry ?? {}).sort()).toEqual(['durationMs', 'method', 'path', 'status', 'time']);
    expect(JSON.stringify(server.requests())).not.toContain('open-sesame');
    expect(JSON.stringify(server.requests())).not.toContain(server.rootToken);
    server.clearRequests();
    expect(server.requests()).toHaveLength(0);
  });

  it('fails the next N matching requests with a status and error text', async () => {
    server.failNext({ method: 'GET', path: 'db/creds/*', status: 500, error: 'boom', count: 2 });
    const a = await call(server, 'GET', 'db/creds/app');
    expect(a.status).toBe(500);
    expect(a.body).toEqual({ errors: ['boom'] });
    expect((await call(server, 'GET', 'secret/data/none')).status).toBe(404);
    expect((await call(server, 'GET', 'db/creds/app')).status).toBe(500);
    expect((await call(server, 'GET', 'db/creds/app')).status).toBe(200);
    server.failNext({ path: 'sys/leases/renew', status: 503, retryAfter: 1 });
    const renew = await call(server, 'PUT', 'sys/leases/renew', { body: { lease_id: 'x' } });
    expect(renew.status).toBe(503);
    expect(renew.headers.get('retry-after')).toBe('1');
    expect(server.requests({ status: 500 })).toHaveLength(2);
  });

  it('adds latency to matching requests', async () => {
    server.addLatency({ path: 'secret/*', ms: 150, count: 1 });
    const started = Date.now();
    await call(server, 'GET', 'secret/data/slow');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(server.requests({ path: 'secret/data/slow' })[0]?.durationMs).toBeGreaterThanOrEqual(140);
  });

  it('drops connections of matching requests', async () => {
    server.dropConnections({ path: 'sys/health' });
    await expect(call(server, 'GET', 'sys/health', { token: null })).rejects.toThrow();
    expect((await call(server, 'GET', 'sys/health', { token: null })).status).toBe(200);
    expect(server.requests({ path: 'sys/health', status: 0 })).toHaveLength(1);
  });

  it('revokes leases and tokens out of band; seals and unseals', async () => {
    const secret = await call(server, 'GET', 'db/creds/app');
    await server.revokeLease(secret.body.lease_id);
    expect(state.revoked.map((l) => l.leaseId)).toContain(secret.body.lease_id);
    const t = await call(server, 'POST', 'auth/token/create', { body: {} });
    expect(await server.revokeToken(t.body.auth.accessor)).toBe(true);
    expect(
      (await call(server, 'GET', 'auth/token/lookup-self', { token: t.body.auth.client_token })).status,
    ).toBe(403);
    expect(await server.revokeToken('nope')).toBe(false);
    server.seal();
    expect(server.sealed).toBe(true);
    expect((await call(server, 'GET', 'secret/data/x')).status).toBe(503);
    server.unseal();
    expect((await call(server, 'GET', 'secret/data/x')).status).toBe(404);
  });
});

describe('HTTP control surface (/_leasehold/, root token only)', () => {
  it('refuses non-root tokens', async () => {
    const t = await call(server, 'POST', 'auth/token/create', { body: { policies: ['default'] } });
    const res = await call(server, 'GET', '/_leasehold/requests', { token: t.body.auth.client_token });
    expect(res.status).toBe(403);
    expect((await call(server, 'GET', '/_leasehold/requests', { token: null })).status).toBe(403);
  });

  it('drives faults, the request log, sealing and revocation over HTTP', async () => {
    expect(
      (
        await call(server, 'POST', '/_leasehold/faults/fail', {
          body: { path: 'auth/test/login', status: 502, error: 'nope' },
        })
      ).status,
    ).toBe(204);
    expect(
      (await call(server, 'POST', 'auth/test/login', { token: null, body: { password: 'open-sesame' } }))
        .status,
    ).toBe(502);
    const ok = await call(server, 'POST', 'auth/test/login', {
      token: null,
      body: { password: 'open-sesame' },
    });
    expect(ok.status).toBe(200);
    const log = await call(server, 'GET', '/_leasehold/requests?path=auth/test/login&status=200');
    expect(log.body.count).toBe(1);
    expect(log.body.requests[0]).toMatchObject({ method: 'POST', path: 'auth/test/login', status: 200 });
    expect(
      (
        await call(server, 'POST', '/_leasehold/faults/latency', {
          body: { path: 'sys/health', ms: 50, count: 1 },
        })
      ).status,
    ).toBe(204);
    expect(
      (await call(server, 'POST', '/_leasehold/faults/drop', { body: { path: 'sys/health' } })).status,
    ).toBe(204);
    expect((await call(server, 'DELETE', '/_leasehold/faults')).status).toBe(204);
    expect((await call(server, 'GET', 'sys/health', { token: null })).status).toBe(200);
    const bad = await call(server, 'POST', '/_leasehold/faults/fail', { body: { status: 'x' } });
    expect(bad.status).toBe(400);

    expect((await call(server, 'POST', '/_leasehold/seal')).status).toBe(204);
    expect((await call(server, 'GET', 'secret/data/x')).status).toBe(503);
    expect((await call(server, 'POST', '/_leasehold/unseal')).status).toBe(204);

    const secret = await call(server, 'GET', 'db/creds/app');
    expect(
      (await call(server, 'POST', '/_leasehold/revoke-lease', { body: { leaseId: secret.body.lease_id } }))
        .status,
    ).toBe(204);
    expect(state.revoked.map((l) => l.leaseId)).toContain(secret.body.lease_id);
    const token = ok.body.auth.client_token;
    expect(
      (await call(server, 'POST', '/_leasehold/revoke-token', { body: { accessor: ok.body.auth.accessor } }))
        .status,
    ).toBe(204);
    expect((await call(server, 'GET', 'auth/token/lookup-self', { token })).status).toBe(403);
    expect((await call(server, 'DELETE', '/_leasehold/requests')).status).toBe(204);
    expect((await call(server, 'GET', '/_leasehold/requests')).body.count).toBe(0);
    expect((await call(server, 'GET', '/_leasehold/nope')).status).toBe(404);
  });
});
