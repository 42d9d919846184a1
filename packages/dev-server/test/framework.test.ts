import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';
import { newState, testEngine } from './fixtures.js';
import { call } from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const state = newState();
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ secretEngines: { test: testEngine(state) } });
  await server.mount('test', 'test');
});
afterAll(async () => {
  await server.close();
});

/** Sends a raw request (for verbs fetch refuses and for exact byte control). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const url = new URL(server.url);
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { 'x-vault-token': server.rootToken, ...headers },
        // A fresh connection per request: reusing a kept-alive one races the server closing it when idle (its 5 s
        // keep-alive timeout), which on a loaded machine — building a 33 MiB body takes a while — ends in ECONNRESET.
        agent: false,
      },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

describe('envelope and routing', () => {
  it('answers with the full envelope and a UUID request_id', async () => {
    const res = await call(server, 'POST', 'test/echo', { body: { a: 1 } });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(
      [
        'auth',
        'data',
        'lease_duration',
        'lease_id',
        'mount_type',
        'renewable',
        'request_id',
        'warnings',
        'wrap_info',
      ].sort(),
    );
    expect(res.body.request_id).toMatch(UUID);
    expect(res.body).toMatchObject({
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      wrap_info: null,
      warnings: null,
      auth: null,
      mount_type: 'test',
    });
    expect(res.body.data).toEqual({ a: 1, operation: 'update' });
    const again = await call(server, 'POST', 'test/echo', { body: { a: 1 } });
    expect(again.body.request_id).not.toBe(res.body.request_id);
  });

  it('maps a nil response to 404 {"errors":[]} for reads and 204 for writes', async () => {
    const read = await call(server, 'GET', 'test/nil');
    expect(read.status).toBe(404);
    expect(read.body).toEqual({ errors: [] });
    const write = await call(server, 'POST', 'test/nil', { body: {} });
    expect(write.status).toBe(204);
    expect(write.text).toBe('');
    const del = await call(server, 'DELETE', 'test/nil');
    expect(del.status).toBe(204);
  });

  it('supports LIST and GET ?list=true with a trailing slash, and 404s an empty list', async () => {
    const list = await raw('LIST', '/v1/test/list');
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body).data.keys).toEqual(['a', 'b/']);
    const get = await call(server, 'GET', 'test/list?list=true');
    expect(get.status).toBe(200);
    expect(state.lastRequest?.operation).toBe('list');
    expect(state.lastRequest?.path).toBe('list/');
    const empty = await call(server, 'GET', 'test/list/?list=true&empty=1');
    expect(empty.status).toBe(404);
    expect(empty.body).toEqual({ errors: [] });
    const bad = await call(server, 'GET', 'test/list?list=maybe');
    expect(bad.status).toBe(400);
  });

  it('passes query parameters as data for read and delete', async () => {
    await call(server, 'GET', 'test/echo?x=1&y=2&y=3');
    expect(state.lastRequest?.data).toEqual({ x: '1', y: ['2', '3'] });
    await call(server, 'DELETE', 'test/echo?z=9');
    expect(state.lastRequest?.operation).toBe('delete');
    expect(state.lastRequest?.data).toEqual({ z: '9' });
  });

  it('parses form bodies and rejects bad JSON', async () => {
    const form = await call(server, 'POST', 'test/echo', {
      rawBody: 'a=1&b=two',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.body.data).toEqual({ a: '1', b: 'two', operation: 'update' });
    const jsonInForm = await call(server, 'POST', 'test/echo', {
      rawBody: '{"j":true}',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(jsonInForm.body.data.j).toBe(true);
    const bad = await call(server, 'POST', 'test/echo', {
      rawBody: '{nope',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ errors: ['error parsing JSON'] });
    const arr = await call(server, 'PUT', 'test/echo', { rawBody: '[1]' });
    expect(arr.status).toBe(400);
  });

  it('requires the merge-patch content type for PATCH (415)', async () => {
    const wrong = await call(server, 'PATCH', 'test/echo', { body: { a: 1 } });
    expect(wrong.status).toBe(415);
    const right = await call(server, 'PATCH', 'test/echo', {
      body: { a: 1 },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(right.status).toBe(200);
    expect(right.body.data.operation).toBe('patch');
  });

  it('answers 405 for unknown verbs and 413 for bodies over 32 MiB', async () => {
    const options = await raw('OPTIONS', '/v1/test/echo');
    expect(options.status).toBe(405);
    const big = await raw(
      'POST',
      '/v1/test/echo',
      { 'content-type': 'application/json' },
      `"${'x'.repeat(33 * 1024 * 1024)}"`,
    );
    expect(big.status).toBe(413);
  });

  it('answers 404 "no handler for route" for unmounted paths (root token) and 403 without a grant', async () => {
    const res = await call(server, 'GET', 'nowhere/foo');
    expect(res.status).toBe(404);
    expect(res.body.errors).toEqual(['no handler for route "nowhere/foo". route entry not found.']);
  });

  it('accepts Authorization: Bearer and rejects bad tokens with permission denied + invalid token', async () => {
    const bearer = await call(server, 'GET', 'test/echo', {
      token: null,
      headers: { authorization: `Bearer ${server.rootToken}` },
    });
    expect(bearer.status).toBe(200);
    const none = await call(server, 'GET', 'test/echo', { token: null });
    expect(none.status).toBe(403);
    const bad = await call(server, 'GET', 'test/echo', { token: 'hvs.nope' });
    expect(bad.status).toBe(403);
    expect(bad.body.errors.join(' ')).toContain('permission denied');
    expect(bad.body.errors.join(' ')).toContain('invalid token');
  });

  it('serves unauthenticated backend paths without a token and passes the token when given', async () => {
    const anon = await call(server, 'GET', 'test/public/hello', { token: null });
    expect(anon.status).toBe(200);
    expect(anon.body.data).toEqual({ hello: 'world', authenticated: false });
    const withToken = await call(server, 'GET', 'test/public/hello');
    expect(withToken.body.data.authenticated).toBe(true);
  });

  it('relays backend error statuses', async () => {
    const res = await call(server, 'GET', 'test/boom');
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ errors: ['upstream failed'] });
  });

  it('strips the token header from what backends see', async () => {
    await call(server, 'GET', 'test/echo');
    expect(state.lastRequest?.headers['x-vault-token']).toBeUndefined();
    expect(state.lastRequest?.token?.isRoot).toBe(true);
    expect(state.lastRequest?.remoteAddress).toBe('127.0.0.1');
  });
});

describe('sys/health and sealing', () => {
  it('reports health with every code parameter, body on GET regardless of status', async () => {
    const ok = await call(server, 'GET', 'sys/health', { token: null });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      initialized: true,
      sealed: false,
      standby: false,
      performance_standby: false,
    });
    expect(typeof ok.body.server_time_utc).toBe('number');
    const custom = await call(server, 'GET', 'sys/health?activecode=299', { token: null });
    expect(custom.status).toBe(299);
    const bad = await call(server, 'GET', 'sys/health?activecode=abc', { token: null });
    expect(bad.status).toBe(400);
    expect((await call(server, 'GET', 'sys/health?activecode=1000', { token: null })).status).toBe(400);
    expect(
      (await call(server, 'GET', 'sys/health?standbyok=true&perfstandbyok=1', { token: null })).status,
    ).toBe(200);
    const badBool = await call(server, 'GET', 'sys/health?standbyok=maybe', { token: null });
    expect(badBool.status).toBe(400);
    const head = await call(server, 'HEAD', 'sys/health', { token: null });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
  });

  it('seals: 503 Vault is sealed everywhere except health/seal-status/unseal', async () => {
    const sealed = await call(server, 'PUT', 'sys/seal');
    expect(sealed.status).toBe(204);
    const res = await call(server, 'GET', 'test/echo');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ errors: ['Vault is sealed'] });
    const health = await call(server, 'GET', 'sys/health', { token: null });
    expect(health.status).toBe(503);
    expect(health.body.sealed).toBe(true);
    expect((await call(server, 'GET', 'sys/health?sealedcode=200', { token: null })).status).toBe(200);
    const status = await call(server, 'GET', 'sys/seal-status', { token: null });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ type: 'shamir', sealed: true, t: 1, n: 1, progress: 0 });
    const wrong = await call(server, 'PUT', 'sys/unseal', { token: null, body: { key: 'wrong' } });
    expect(wrong.status).toBe(400);
    const unseal = await call(server, 'PUT', 'sys/unseal', { token: null, body: { key: server.unsealKey } });
    expect(unseal.status).toBe(200);
    expect(unseal.body.sealed).toBe(false);
    expect((await call(server, 'GET', 'test/echo')).status).toBe(200);
  });

  it('needs sudo to seal', async () => {
    const token = await call(server, 'POST', 'auth/token/create', { body: { policies: ['default'] } });
    const res = await call(server, 'PUT', 'sys/seal', { token: token.body.auth.client_token });
    expect(res.status).toBe(403);
    expect(res.body.errors).toEqual(['1 error occurred:\n\t* permission denied\n\n']);
  });
});

describe('sys/mounts', () => {
  it('lists, enables, reads, tunes and disables mounts', async () => {
    const list = await call(server, 'GET', 'sys/mounts');
    expect(list.status).toBe(200);
    expect(list.body.data['secret/']).toMatchObject({ type: 'kv', options: { version: '2' } });
    expect(list.body['secret/']).toMatchObject({ type: 'kv' });
    expect(list.body.data['sys/'].type).toBe('system');

    expect((await call(server, 'POST', 'sys/mounts/kv1', { body: { type: 'kv' } })).status).toBe(204);
    expect((await call(server, 'POST', 'sys/mounts/kv2', { body: { type: 'kv-v2' } })).status).toBe(204);
    const dup = await call(server, 'POST', 'sys/mounts/kv1', { body: { type: 'kv' } });
    expect(dup.status).toBe(400);
    expect(dup.body.errors).toEqual(['path is already in use at kv1/']);
    const unknown = await call(server, 'POST', 'sys/mounts/x', { body: { type: 'nope' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0]).toContain('plugin not found in the catalog: nope');

    const tune = await call(server, 'POST', 'sys/mounts/kv1/tune', {
      body: { default_lease_ttl: '1h', max_lease_ttl: '2h' },
    });
    expect(tune.status).toBe(204);
    const tuned = await call(server, 'GET', 'sys/mounts/kv1/tune');
    expect(tuned.body.data).toMatchObject({ default_lease_ttl: 3600, max_lease_ttl: 7200 });

    const ui = await call(server, 'GET', 'sys/internal/ui/mounts/kv2/some/key');
    expect(ui.status).toBe(200);
    expect(ui.body.data).toMatchObject({ type: 'kv', path: 'kv2/', options: { version: '2' } });
    const uiV1 = await call(server, 'GET', 'sys/internal/ui/mounts/kv1');
    expect(uiV1.body.data.options).toEqual({ version: '1' });
    const uiAll = await call(server, 'GET', 'sys/internal/ui/mounts');
    expect(Object.keys(uiAll.body.data.secret)).toContain('kv2/');
    const uiMissing = await call(server, 'GET', 'sys/internal/ui/mounts/missing/x');
    expect(uiMissing.status).toBe(403);

    expect((await call(server, 'DELETE', 'sys/mounts/kv1')).status).toBe(204);
    expect((await call(server, 'GET', 'kv1/foo')).status).toBe(404);
  });

  it('reads a mount and its effective tune values; rejects reserved paths', async () => {
    const read = await call(server, 'GET', 'sys/mounts/secret');
    expect(read.body.data).toMatchObject({ type: 'kv', options: { version: '2' } });
    const tune = await call(server, 'GET', 'sys/mounts/secret/tune');
    expect(tune.body.data).toMatchObject({ default_lease_ttl: 2764800, max_lease_ttl: 2764800 });
    expect((await call(server, 'POST', 'sys/mounts/sys/x', { body: { type: 'kv' } })).status).toBe(400);
    const nested = await call(server, 'POST', 'sys/mounts/secret/inner', { body: { type: 'kv' } });
    expect(nested.body.errors).toEqual(['path is already in use at secret/']);
  });

  it('enables and lists auth methods with the built-in token method', async () => {
    const list = await call(server, 'GET', 'sys/auth');
    expect(list.body.data['token/']).toMatchObject({ type: 'token' });
    const unknown = await call(server, 'POST', 'sys/auth/foo', { body: { type: 'nope' } });
    expect(unknown.status).toBe(400);
  });
});
