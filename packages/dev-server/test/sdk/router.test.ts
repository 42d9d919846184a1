import { describe, expect, it } from 'vitest';
import {
  compilePattern,
  defineBackend,
  type LogicalRequest,
  type Operation,
  Router,
} from '../../src/sdk/index.js';
import { call } from '../support/direct.js';

function req(operation: Operation, path: string, data: Record<string, unknown> = {}): LogicalRequest {
  return {
    operation,
    path,
    mountPath: 'x/',
    data,
    token: undefined,
    remoteAddress: '127.0.0.1',
    clientCertificate: undefined,
    headers: {},
  };
}

describe('path router', () => {
  const seen: { op: string; params: Record<string, string>; ttl?: unknown; name?: unknown }[] = [];
  const router = new Router([
    {
      pattern: 'role/',
      operations: { list: async () => ({ data: { keys: ['a'] } }) },
    },
    {
      pattern: 'role/:name',
      fields: { name: { type: 'string' }, ttl: { type: 'duration', default: '1h' } },
      operations: {
        read: async (_r, params, fields) => {
          seen.push({ op: 'read', params, ttl: fields.get('ttl'), name: fields.get('name') });
          return { data: { ttl: fields.get('ttl') } };
        },
        update: async (r, params, fields) => {
          seen.push({ op: r.operation, params, ttl: fields.get('ttl'), name: fields.get('name') });
          return null;
        },
      },
    },
    { pattern: 'data/*path', operations: { read: async (_r, params) => ({ data: { path: params.path } }) } },
    {
      pattern: /^legacy\/(?<id>\d+)$/,
      operations: { read: async (_r, params) => ({ data: { id: params.id } }) },
    },
  ]);

  it("matches :name with Vault's GenericNameRegex and *rest across slashes", () => {
    const name = compilePattern('role/:name');
    for (const ok of ['a', 'a1', 'my-role', 'my.role', 'my_role', 'a-b.c_d'])
      expect(name.test(`role/${ok}`)).toBe(true);
    for (const bad of ['-a', 'a-', '.a', 'a/b', '']) expect(name.test(`role/${bad}`)).toBe(false);
    expect(compilePattern('data/*path').exec('data/a/b/c')?.groups?.path).toBe('a/b/c');
  });

  it('routes by operation, falls back from create to update, and passes captures and typed fields', async () => {
    seen.length = 0;
    expect(await router.dispatch(req('read', 'role/web'))).toEqual({ data: { ttl: 3600 } });
    expect(await router.dispatch(req('create', 'role/web', { ttl: '90s' }))).toBeNull();
    expect(seen).toEqual([
      { op: 'read', params: { name: 'web' }, ttl: 3600, name: 'web' },
      { op: 'create', params: { name: 'web' }, ttl: 90, name: 'web' },
    ]);
    expect(await router.dispatch(req('list', 'role/'))).toEqual({ data: { keys: ['a'] } });
    expect(await router.dispatch(req('read', 'data/a/b'))).toEqual({ data: { path: 'a/b' } });
    expect(await router.dispatch(req('read', 'legacy/42'))).toEqual({ data: { id: '42' } });
  });

  it('the path capture wins over a body field of the same name (as in Vault)', async () => {
    seen.length = 0;
    await router.dispatch(req('update', 'role/web', { name: 'other' }));
    expect(seen[0]?.name).toBe('web');
  });

  it('answers 404 unsupported path, 405 unsupported operation, 400 on a field that does not convert', async () => {
    const backend = defineBackend({ type: 'x', paths: [{ pattern: 'p', operations: {} }] });
    expect((await call(backend, 'read', 'nope')).status).toBe(404);
    expect((await call(backend, 'read', 'nope')).errors).toEqual(['unsupported path']);
    expect((await call(backend, 'delete', 'p')).status).toBe(405);
    await expect(router.dispatch(req('update', 'role/web', { ttl: 'soon' }))).rejects.toMatchObject({
      status: 400,
      errors: [
        'Field validation failed: error converting input soon for field "ttl": time: invalid duration "soon"',
      ],
    });
    // Fields outside the schema are not validated (Vault ignores them).
    await expect(router.dispatch(req('update', 'role/web', { other: 'tRuE' }))).resolves.toBeNull();
  });
});
