import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, ManualClock, startDevServer } from '../src/index.js';
import { call } from './helpers.js';

let server: DevServer;
const clock = new ManualClock();
const PATCH = { 'content-type': 'application/merge-patch+json' };

beforeAll(async () => {
  server = await startDevServer({ clock });
  await server.mount('kv1', 'kv');
});
afterAll(async () => {
  await server.close();
});

describe('KV v2 (dev mode secret/)', () => {
  it('writes and reads versions with metadata', async () => {
    const w1 = await call(server, 'POST', 'secret/data/app/db', { body: { data: { user: 'a', pass: 'x' } } });
    expect(w1.status).toBe(200);
    expect(w1.body.data).toMatchObject({
      version: 1,
      deletion_time: '',
      destroyed: false,
      custom_metadata: null,
    });
    expect(w1.body.data.created_time).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    const w2 = await call(server, 'PUT', 'secret/data/app/db', { body: { data: { user: 'b' } } });
    expect(w2.body.data.version).toBe(2);
    const r = await call(server, 'GET', 'secret/data/app/db');
    expect(r.status).toBe(200);
    expect(r.body.data.data).toEqual({ user: 'b' });
    expect(r.body.data.metadata).toMatchObject({ version: 2, destroyed: false, deletion_time: '' });
    expect(r.body.mount_type).toBe('kv');
    const old = await call(server, 'GET', 'secret/data/app/db?version=1');
    expect(old.body.data.data).toEqual({ user: 'a', pass: 'x' });
    const missingVersion = await call(server, 'GET', 'secret/data/app/db?version=9');
    expect(missingVersion.status).toBe(404);
    expect(missingVersion.body).toEqual({ errors: [] });
    const missing = await call(server, 'GET', 'secret/data/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ errors: [] });
    const noData = await call(server, 'POST', 'secret/data/app/db', { body: { foo: 1 } });
    expect(noData.body.errors).toEqual(['no data provided']);
  });

  it('check-and-set', async () => {
    expect(
      (await call(server, 'POST', 'secret/data/cas', { body: { options: { cas: 0 }, data: { a: 1 } } }))
        .status,
    ).toBe(200);
    const mismatch = await call(server, 'POST', 'secret/data/cas', {
      body: { options: { cas: 0 }, data: { a: 2 } },
    });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.errors).toEqual(['check-and-set parameter did not match the current version']);
    expect(
      (await call(server, 'POST', 'secret/data/cas', { body: { options: { cas: 1 }, data: { a: 2 } } })).body
        .data.version,
    ).toBe(2);
    await call(server, 'POST', 'secret/metadata/cas', { body: { cas_required: true } });
    const required = await call(server, 'POST', 'secret/data/cas', { body: { data: { a: 3 } } });
    expect(required.body.errors).toEqual(['check-and-set parameter required for this call']);
    const bad = await call(server, 'POST', 'secret/data/cas', {
      body: { options: { cas: 'x' }, data: { a: 3 } },
    });
    expect(bad.body.errors).toEqual(['error parsing check-and-set parameter']);
  });

  it('soft-deletes, undeletes and destroys with 404 bodies', async () => {
    await call(server, 'POST', 'secret/data/d', { body: { data: { v: 1 } } });
    await call(server, 'POST', 'secret/data/d', { body: { data: { v: 2 } } });
    expect((await call(server, 'DELETE', 'secret/data/d')).status).toBe(204);
    const deleted = await call(server, 'GET', 'secret/data/d');
    expect(deleted.status).toBe(404);
    expect(deleted.body.request_id).toBeTruthy();
    expect(deleted.body.data.data).toBeNull();
    expect(deleted.body.data.metadata.version).toBe(2);
    expect(deleted.body.data.metadata.deletion_time).not.toBe('');
    expect((await call(server, 'POST', 'secret/undelete/d', { body: { versions: [2] } })).status).toBe(204);
    expect((await call(server, 'GET', 'secret/data/d')).body.data.data).toEqual({ v: 2 });
    expect((await call(server, 'POST', 'secret/delete/d', { body: { versions: [1] } })).status).toBe(204);
    expect((await call(server, 'GET', 'secret/data/d?version=1')).status).toBe(404);
    expect((await call(server, 'POST', 'secret/destroy/d', { body: { versions: [2] } })).status).toBe(204);
    const destroyed = await call(server, 'GET', 'secret/data/d');
    expect(destroyed.status).toBe(404);
    expect(destroyed.body.data.metadata.destroyed).toBe(true);
    const undeleteDestroyed = await call(server, 'POST', 'secret/undelete/d', { body: { versions: [2] } });
    expect(undeleteDestroyed.status).toBe(204);
    expect((await call(server, 'GET', 'secret/data/d')).status).toBe(404);
    const noVersions = await call(server, 'POST', 'secret/delete/d', { body: {} });
    expect(noVersions.status).toBe(400);
  });

  it('metadata: read, write, custom_metadata, max_versions pruning, delete', async () => {
    for (let i = 1; i <= 4; i++) await call(server, 'POST', 'secret/data/m', { body: { data: { i } } });
    expect(
      (
        await call(server, 'POST', 'secret/metadata/m', {
          body: { max_versions: 2, custom_metadata: { owner: 'ops' } },
        })
      ).status,
    ).toBe(204);
    const meta = await call(server, 'GET', 'secret/metadata/m');
    expect(meta.status).toBe(200);
    expect(meta.body.data).toMatchObject({
      cas_required: false,
      current_version: 4,
      oldest_version: 3,
      max_versions: 2,
      delete_version_after: '0s',
      custom_metadata: { owner: 'ops' },
    });
    expect(Object.keys(meta.body.data.versions)).toEqual(['3', '4']);
    expect(meta.body.data.versions['4']).toMatchObject({ deletion_time: '', destroyed: false });
    const read = await call(server, 'GET', 'secret/data/m');
    expect(read.body.data.metadata.custom_metadata).toEqual({ owner: 'ops' });
    const patched = await call(server, 'PATCH', 'secret/metadata/m', {
      headers: PATCH,
      body: { custom_metadata: { owner: null, team: 'a' } },
    });
    expect(patched.status).toBe(204);
    expect((await call(server, 'GET', 'secret/metadata/m')).body.data.custom_metadata).toEqual({ team: 'a' });
    expect((await call(server, 'GET', 'secret/data/m?version=1')).status).toBe(404);
    expect((await call(server, 'DELETE', 'secret/metadata/m')).status).toBe(204);
    expect((await call(server, 'GET', 'secret/metadata/m')).status).toBe(404);
    expect((await call(server, 'GET', 'secret/data/m')).status).toBe(404);
  });

  it('lists metadata with folders; empty list → 404', async () => {
    await call(server, 'POST', 'secret/data/list/a', { body: { data: { x: 1 } } });
    await call(server, 'POST', 'secret/data/list/dir/b', { body: { data: { x: 1 } } });
    const list = await call(server, 'LIST', 'secret/metadata/list');
    expect(list.body.data.keys).toEqual(['a', 'dir/']);
    const viaGet = await call(server, 'GET', 'secret/metadata/list/?list=true');
    expect(viaGet.body.data.keys).toEqual(['a', 'dir/']);
    const empty = await call(server, 'LIST', 'secret/metadata/none');
    expect(empty.status).toBe(404);
    expect(empty.body).toEqual({ errors: [] });
  });

  it('PATCH data merges into a new version', async () => {
    await call(server, 'POST', 'secret/data/p', { body: { data: { a: 1, b: { c: 2, d: 3 } } } });
    const res = await call(server, 'PATCH', 'secret/data/p', {
      headers: PATCH,
      body: { data: { a: null, b: { c: 9 }, e: 5 } },
    });
    expect(res.status).toBe(200);
    expect(res.body.data.version).toBe(2);
    expect((await call(server, 'GET', 'secret/data/p')).body.data.data).toEqual({ b: { c: 9, d: 3 }, e: 5 });
    const missing = await call(server, 'PATCH', 'secret/data/p-missing', {
      headers: PATCH,
      body: { data: { a: 1 } },
    });
    expect(missing.status).toBe(404);
  });

  it('subkeys, config and delete_version_after', async () => {
    await call(server, 'POST', 'secret/data/s', { body: { data: { a: { b: { c: 1 } }, d: 2 } } });
    const sub = await call(server, 'GET', 'secret/subkeys/s');
    expect(sub.body.data.subkeys).toEqual({ a: { b: { c: null } }, d: null });
    const shallow = await call(server, 'GET', 'secret/subkeys/s?depth=1');
    expect(shallow.body.data.subkeys).toEqual({ a: null, d: null });
    expect(
      (await call(server, 'POST', 'secret/config', { body: { max_versions: 5, cas_required: false } }))
        .status,
    ).toBe(204);
    expect((await call(server, 'GET', 'secret/config')).body.data).toEqual({
      cas_required: false,
      delete_version_after: '0s',
      max_versions: 5,
    });
    await call(server, 'POST', 'secret/metadata/dva', { body: { delete_version_after: '1s' } });
    const w = await call(server, 'POST', 'secret/data/dva', { body: { data: { a: 1 } } });
    expect(w.body.data.deletion_time).not.toBe('');
    expect(w.body.data.deletion_time).toBe(new Date(clock.now() + 1000).toISOString());
    await clock.advance(999);
    expect((await call(server, 'GET', 'secret/data/dva')).status).toBe(200);
    await clock.advance(1);
    expect((await call(server, 'GET', 'secret/data/dva')).status).toBe(404);
    await call(server, 'POST', 'secret/config', { body: { max_versions: 0 } });
  });

  it('warns on the wrong path shapes with 404', async () => {
    const wrong = await call(server, 'GET', 'secret/foo');
    expect(wrong.status).toBe(404);
    expect(wrong.body.warnings[0]).toContain('Invalid path for a versioned K/V secrets engine');
    const root = await call(server, 'GET', 'secret/data/');
    expect(root.status).toBe(404);
    expect(root.body.warnings).toEqual([
      'Non-listing operations on the root of a K/V v2 mount are not supported.',
    ]);
  });
});

describe('KV v1', () => {
  it('stores maps, reads them with an advisory lease_duration, lists and deletes', async () => {
    expect((await call(server, 'POST', 'kv1/app/config', { body: { user: 'a', ttl: '30m' } })).status).toBe(
      204,
    );
    await call(server, 'POST', 'kv1/app/other', { body: { x: 1 } });
    const r = await call(server, 'GET', 'kv1/app/config');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      data: { user: 'a', ttl: '30m' },
      lease_id: '',
      renewable: false,
      lease_duration: 1800,
    });
    const other = await call(server, 'GET', 'kv1/app/other');
    expect(other.body.lease_duration).toBe(2764800);
    expect((await call(server, 'LIST', 'kv1/app')).body.data.keys).toEqual(['config', 'other']);
    expect((await call(server, 'LIST', 'kv1/')).body.data.keys).toEqual(['app/']);
    const empty = await call(server, 'POST', 'kv1/app/empty', { body: {} });
    expect(empty.status).toBe(400);
    expect(empty.body.errors).toEqual(['missing data fields']);
    expect((await call(server, 'DELETE', 'kv1/app/config')).status).toBe(204);
    expect((await call(server, 'GET', 'kv1/app/config')).status).toBe(404);
    expect((await call(server, 'DELETE', 'kv1/app/never')).status).toBe(204);
  });
});

describe('KV upgrade', () => {
  it('tuning options.version 1 → 2 upgrades the mount, keeping data as version 1; 2 → 1 is refused', async () => {
    await server.mount('up', 'kv');
    await call(server, 'POST', 'up/app/config', { body: { user: 'a' } });
    const tune = await call(server, 'POST', 'sys/mounts/up/tune', { body: { options: { version: '2' } } });
    expect(tune.status).toBe(204);
    const read = await call(server, 'GET', 'up/data/app/config');
    expect(read.status).toBe(200);
    expect(read.body.data.data).toEqual({ user: 'a' });
    expect(read.body.data.metadata.version).toBe(1);
    expect((await call(server, 'GET', 'sys/internal/ui/mounts/up')).body.data.options).toEqual({
      version: '2',
    });
    const down = await call(server, 'POST', 'sys/mounts/up/tune', { body: { options: { version: '1' } } });
    expect(down.status).toBe(400);
  });
});
