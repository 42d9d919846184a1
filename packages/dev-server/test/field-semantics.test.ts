/**
 * Contract tests over HTTP for Vault's field semantics, the same on every path: JSON null means "not given",
 * empty strings get Vault's defaults, and one bool/int/duration/list parser with Vault's rules
 * (https://github.com/hashicorp/vault/blob/main/sdk/framework/field_data.go).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';
import { makeCa } from './auth/pki.js';
import { call } from './helpers.js';

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer();
  await server.enableAuth('cert', 'cert');
  await server.enableAuth('approle', 'approle');
  await server.enableAuth('userpass', 'userpass');
  await server.mount('transit', 'transit');
});
afterAll(async () => {
  await server.close();
});

const boolError = (field: string, input: string) =>
  `Field validation failed: error converting input ${input} for field "${field}": cannot parse '' as bool: strconv.ParseBool: parsing "${input}": invalid syntax`;

describe('JSON null means "not given"', () => {
  it('auth/token/create {"id": null} generates an ID', async () => {
    const res = await call(server, 'POST', 'auth/token/create', {
      body: { id: null, policies: ['default'], ttl: null, renewable: null },
    });
    expect(res.status).toBe(200);
    expect(res.body.auth.client_token).toMatch(/^hvs\./);
    expect(res.body.auth.client_token).not.toBe('null');
    expect(res.body.auth.renewable).toBe(true);
    const lookup = await call(server, 'GET', 'auth/token/lookup-self', { token: res.body.auth.client_token });
    expect(lookup.status).toBe(200);
    expect(lookup.body.data.id).toBe(res.body.auth.client_token);
  });

  it('auth/token/create {"id": ""} also generates an ID; a given ID is kept', async () => {
    const empty = await call(server, 'POST', 'auth/token/create', { body: { id: '' } });
    expect(empty.status).toBe(200);
    expect(empty.body.auth.client_token).toMatch(/^hvs\./);
    const given = await call(server, 'POST', 'auth/token/create', { body: { id: 'my-custom-id' } });
    expect(given.body.auth.client_token).toBe('my-custom-id');
  });

  it('a token role written with null fields keeps its defaults', async () => {
    expect(
      (await call(server, 'POST', 'auth/token/roles/nulls', { body: { renewable: null, orphan: null } }))
        .status,
    ).toBe(204);
    const read = await call(server, 'GET', 'auth/token/roles/nulls');
    expect(read.body.data).toMatchObject({ renewable: true, orphan: false });
  });
});

describe("empty strings get Vault's defaults", () => {
  it('a cert role written with display_name "" reads back with the role\'s name', async () => {
    const ca = await makeCa('Semantics CA');
    const write = await call(server, 'POST', 'auth/cert/certs/Web-Apps', {
      body: { certificate: ca.pem, display_name: '', token_policies: 'web' },
    });
    expect(write.status).toBe(204);
    const read = await call(server, 'GET', 'auth/cert/certs/web-apps');
    expect(read.status).toBe(200);
    expect(read.body.data.display_name).toBe('web-apps');
  });
});

describe('empty strings where Vault refuses them', () => {
  it('a userpass user written with password "" → 400 missing password (create and update)', async () => {
    const create = await call(server, 'POST', 'auth/userpass/users/ann', { body: { password: '' } });
    expect(create.status).toBe(400);
    expect(create.body.errors).toEqual(['missing password']);
    expect(
      (await call(server, 'POST', 'auth/userpass/users/ann', { body: { password: 'pw-1' } })).status,
    ).toBe(204);
    const update = await call(server, 'POST', 'auth/userpass/users/ann', { body: { password: '' } });
    expect(update.body.errors).toEqual(['missing password']);
  });
});

describe('the system backend parses fields with the same parser', () => {
  it('sys/leases/revoke refuses sync: "tRuE"; sys/mounts options are key/value strings', async () => {
    const revoke = await call(server, 'PUT', 'sys/leases/revoke', {
      body: { lease_id: 'x/y/z', sync: 'tRuE' },
    });
    expect(revoke.status).toBe(400);
    expect(revoke.body.errors).toEqual([boolError('sync', 'tRuE')]);
    const mount = await call(server, 'POST', 'sys/mounts/kvnum', {
      body: { type: 'kv', options: { version: 2 } },
    });
    expect(mount.status).toBe(204);
    const write = await call(server, 'POST', 'kvnum/data/app', { body: { data: { a: 1 } } });
    expect(write.status).toBe(200);
    expect(write.body.data.version).toBe(1);
  });
});

describe('one bool/int/duration/list parser', () => {
  it('refuses "tRuE" everywhere with Vault\'s text, accepts strconv.ParseBool spellings', async () => {
    const refusals = [
      ['auth/token/create', { renewable: 'tRuE' }, 'renewable'],
      ['auth/approle/role/r1', { bind_secret_id: 'tRuE' }, 'bind_secret_id'],
      ['transit/keys/k1', { exportable: 'tRuE' }, 'exportable'],
      ['secret/config', { cas_required: 'tRuE' }, 'cas_required'],
    ] as const;
    for (const [path, body, field] of refusals) {
      const res = await call(server, 'POST', path, { body });
      expect(res.status, path).toBe(400);
      expect(res.body.errors, path).toEqual([boolError(field, 'tRuE')]);
    }
    for (const value of ['T', 'TRUE', 'True', '1', 1, true]) {
      const res = await call(server, 'POST', 'auth/approle/role/r2', { body: { bind_secret_id: value } });
      expect(res.status, String(value)).toBe(204);
    }
    const two = await call(server, 'POST', 'auth/approle/role/r2', { body: { bind_secret_id: 2 } });
    expect(two.body.errors).toEqual([boolError('bind_secret_id', '2')]);
  });

  it('durations: seconds, Go strings and days; negative and malformed values refused', async () => {
    const ok = await call(server, 'POST', 'auth/approle/role/d1', {
      body: { token_ttl: '1d', token_max_ttl: '36h', secret_id_ttl: 600 },
    });
    expect(ok.status).toBe(204);
    const read = await call(server, 'GET', 'auth/approle/role/d1');
    expect(read.body.data).toMatchObject({ token_ttl: 86_400, token_max_ttl: 129_600, secret_id_ttl: 600 });
    const negative = await call(server, 'POST', 'auth/approle/role/d1', { body: { token_ttl: -1 } });
    expect(negative.status).toBe(400);
    expect(negative.body.errors).toEqual([
      `Field validation failed: error converting input -1 for field "token_ttl": cannot provide negative value '-1'`,
    ]);
    const malformed = await call(server, 'POST', 'auth/token/create', { body: { ttl: '1d2h' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors).toEqual([
      'Field validation failed: error converting input 1d2h for field "ttl": time: unknown unit "d" in duration "1d2h"',
    ]);
  });

  it('ints: Go ParseInt rules; negative num_uses refused by the token store', async () => {
    const hex = await call(server, 'POST', 'auth/token/create', { body: { num_uses: '0x3' } });
    expect(hex.status).toBe(200);
    expect(hex.body.auth.num_uses).toBe(3);
    const negative = await call(server, 'POST', 'auth/token/create', { body: { num_uses: -1 } });
    expect(negative.status).toBe(400);
    expect(negative.body.errors).toEqual(['number of uses cannot be negative']);
    const fraction = await call(server, 'POST', 'auth/token/create', { body: { num_uses: 1.5 } });
    expect(fraction.status).toBe(400);
    expect(fraction.body.errors[0]).toContain('strconv.ParseInt: parsing "1.5": invalid syntax');
  });

  it('lists: a comma string and a JSON array mean the same', async () => {
    await call(server, 'POST', 'auth/approle/role/l1', { body: { token_policies: 'b, a' } });
    await call(server, 'POST', 'auth/approle/role/l2', { body: { token_policies: ['b', 'a'] } });
    const one = await call(server, 'GET', 'auth/approle/role/l1');
    const two = await call(server, 'GET', 'auth/approle/role/l2');
    expect(one.body.data.token_policies).toEqual(['a', 'b']);
    expect(two.body.data.token_policies).toEqual(['a', 'b']);
  });
});

describe('KV v2 check-and-set edge values (vault-plugin-secrets-kv validateCheckAndSetOption)', () => {
  it('cas: -1 → 400 check-and-set parameter did not match the current version', async () => {
    const res = await call(server, 'POST', 'secret/data/cas-neg', {
      body: { data: { a: 1 }, options: { cas: -1 } },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual(['check-and-set parameter did not match the current version']);
  });

  it('cas as a string is weakly decoded; a non-number is a parsing error', async () => {
    const first = await call(server, 'POST', 'secret/data/cas-str', {
      body: { data: { a: 1 }, options: { cas: '0' } },
    });
    expect(first.status).toBe(200);
    expect(first.body.data.version).toBe(1);
    const bad = await call(server, 'POST', 'secret/data/cas-str', {
      body: { data: { a: 2 }, options: { cas: 'one' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual(['error parsing check-and-set parameter']);
    const stale = await call(server, 'POST', 'secret/data/cas-str', {
      body: { data: { a: 2 }, options: { cas: 0 } },
    });
    expect(stale.body.errors).toEqual(['check-and-set parameter did not match the current version']);
  });

  it('versions for delete/undelete/destroy are a comma-int list; none → No version number provided', async () => {
    await call(server, 'POST', 'secret/data/vers', { body: { data: { a: 1 } } });
    await call(server, 'POST', 'secret/data/vers', { body: { data: { a: 2 } } });
    expect((await call(server, 'POST', 'secret/delete/vers', { body: { versions: '1,2' } })).status).toBe(
      204,
    );
    const meta = await call(server, 'GET', 'secret/metadata/vers');
    expect(meta.body.data.versions['1'].deletion_time).not.toBe('');
    expect(meta.body.data.versions['2'].deletion_time).not.toBe('');
    const none = await call(server, 'POST', 'secret/undelete/vers', { body: {} });
    expect(none.status).toBe(400);
    expect(none.body.errors).toEqual(['No version number provided']);
  });

  it("max_versions is Vault's uint32: -1 wraps around", async () => {
    await call(server, 'POST', 'secret/metadata/wrap', { body: { max_versions: -1 } });
    const meta = await call(server, 'GET', 'secret/metadata/wrap');
    expect(meta.body.data.max_versions).toBe(4_294_967_295);
  });
});
