/**
 * Compatibility check with a real third-party Vault client: hvac (Debian's python3-hvac), used unchanged against
 * the dev server through the common flows — AppRole login, KV v2 write/read, database credentials
 * generate/renew/revoke (on the real test PostgreSQL), transit encrypt/decrypt, transit backup/restore/trim, a PKI
 * chain root → intermediate → leaf with CRL rotation and tidy, a policy refusal.
 * `.ci/run` installs python3-hvac; locally the test is skipped (with a note) when hvac is missing, except in CI.
 */
import 'reflect-metadata';
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '@leasehold/test-env';
import { X509Certificate as PeculiarCertificate, X509Crl } from '@peculiar/x509';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';

const run = promisify(execFile);
const python = '/usr/bin/python3';
const script = fileURLToPath(new URL('./fixtures/hvac_flows.py', import.meta.url));

function hvacAvailable(): boolean {
  try {
    execFileSync(python, ['-c', 'import hvac'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available = hvacAvailable();
if (!available && process.env.CI) {
  throw new Error('python3-hvac is required in CI (.ci/run installs it with apt-get)');
}

describe.skipIf(!available)('hvac (a real third-party client) works against the dev server unchanged', () => {
  let server: DevServer;
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;

  async function api(method: string, path: string, body?: unknown): Promise<Record<string, unknown> | null> {
    const res = await fetch(`${server.url}/v1/${path}`, {
      method,
      headers: { 'x-vault-token': server.rootToken, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 400) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`);
    return res.status === 204 ? null : ((await res.json()) as Record<string, unknown>);
  }

  async function flow(name: string, extra: Record<string, string> = {}): Promise<Record<string, unknown>> {
    const { stdout } = await run(python, [script, name], { env: { ...env, ...extra }, timeout: 30_000 });
    return JSON.parse(stdout) as Record<string, unknown>;
  }

  async function canLogin(user: string, password: string): Promise<boolean> {
    const client = new pg.Client({ host: db.host, port: db.port, database: db.name, user, password });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    server = await startDevServer({ port: 0 });
    const su = new URL(db.superuserUrl);
    await api('PUT', 'sys/policies/acl/app', {
      policy: `
        path "secret/data/app/*" { capabilities = ["create", "read", "update"] }
        path "database/creds/app" { capabilities = ["read"] }
        path "sys/leases/revoke" { capabilities = ["update"] }
        path "transit/encrypt/app" { capabilities = ["update"] }
        path "transit/decrypt/app" { capabilities = ["update"] }
      `,
    });
    await api('POST', 'sys/auth/approle', { type: 'approle' });
    await api('POST', 'auth/approle/role/app', {
      token_policies: ['app'],
      token_ttl: '1h',
      token_max_ttl: '4h',
    });
    const roleId = (await api('GET', 'auth/approle/role/app/role-id'))?.data as { role_id: string };
    const secret = (await api('POST', 'auth/approle/role/app/secret-id'))?.data as { secret_id: string };
    await api('POST', 'sys/mounts/database', { type: 'database' });
    await api('POST', 'database/config/pg', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: `postgresql://{{username}}:{{password}}@${db.host}:${db.port}/${db.name}`,
      username: decodeURIComponent(su.username),
      password: decodeURIComponent(su.password),
      allowed_roles: ['app'],
    });
    await api('POST', 'database/roles/app', {
      db_name: 'pg',
      creation_statements: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
        `GRANT CONNECT ON DATABASE "${db.name}" TO "{{name}}";`,
      ],
      default_ttl: '5m',
      max_ttl: '1h',
    });
    await api('POST', 'sys/mounts/transit', { type: 'transit' });
    await api('POST', 'transit/keys/app', {});
    env = {
      PATH: process.env.PATH,
      VAULT_ADDR: server.url,
      ROLE_ID: roleId.role_id,
      SECRET_ID: secret.secret_id,
    };
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  it('logs in with AppRole, writes and reads KV v2, gets/renews database credentials and uses transit', async () => {
    const out = await flow('main');
    expect(out.policies).toEqual(['app', 'default']);
    expect(out.token_ttl).toBe(3600);
    expect(out.kv_value).toBe('hello again');
    expect(out.kv_version).toBe(2);
    expect(out.kv_v1_value).toBe('hello');
    expect(String(out.db_lease_id)).toMatch(/^database\/creds\/app\/[A-Za-z0-9]{24}$/);
    expect(out.db_lease_duration).toBe(300);
    expect(out.renewed_lease_duration).toBe(600);
    expect(out.renewed_lease_id).toBe(out.db_lease_id);
    expect(Number(out.lookup_ttl)).toBeGreaterThan(590);
    expect(out.ciphertext_prefix).toBe('vault:v1:');
    expect(out.decrypted).toBe('card 4242');
    expect(out.lookup_self_policies).toEqual(['app', 'default']);

    const user = String(out.db_username);
    const password = String(out.db_password);
    expect(user).toMatch(/^v-approle-app-[A-Za-z0-9]{20}-\d{10}$/);
    expect(await canLogin(user, password)).toBe(true);

    const revoked = await flow('revoke', { LEASE_ID: String(out.db_lease_id) });
    expect(revoked.revoked).toBe(true);
    expect(await canLogin(user, password)).toBe(false);
    const { rows } = await db.query('select 1 from pg_roles where rolname = $1', [user]);
    expect(rows).toHaveLength(0);
  });

  it('works inside a namespace through its `namespace` option, and the namespace token is refused outside', async () => {
    const out = await flow('namespace', { VAULT_TOKEN: server.rootToken });
    expect(out).toEqual({
      created_path: 'hvac-team/',
      listed: ['hvac-team/'],
      policies: ['default', 'reader'],
      kv: 'hvac',
      namespace_path: 'hvac-team/',
      outside: 'Forbidden',
    });
  });

  it('manages a file audit device, hashes with it, moves a mount, reads key/leader/init/seal status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-hvac-audit-'));
    try {
      const auditFile = join(dir, 'audit.log');
      const out = await flow('admin', { VAULT_TOKEN: server.rootToken, AUDIT_FILE: auditFile });
      expect(out).toMatchObject({
        audit_devices: { 'hvac-file/': 'file' },
        audit_after_disable: {},
        key_term: 1,
        migration_id: true,
        mounts_after_move: ['hvac-new/'],
        initialized: true,
        leader_ha: false,
        sealed: false,
        lookup_bad: 'Forbidden',
      });
      expect(String(out.hash)).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
      const log = readFileSync(auditFile, 'utf8');
      expect(log).not.toContain('hvac-secret');
      expect(log).toContain(String(out.hash));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('backs up, restores and trims transit keys and builds a PKI chain root → intermediate → leaf with hvac', async () => {
    const out = await flow('crypto', { VAULT_TOKEN: server.rootToken });
    expect(out.restore).toEqual({ status: 204, body: null });
    expect(out.restored_plaintext).toBe('backup me');
    expect(out.restore_existing).toEqual(['key "k" already exists']);
    expect(out.trimmed_versions).toEqual(['2', '3']);
    expect(out.trim_error).toEqual(['minimum available version cannot be decremented']);
    expect(out.set_signed).toMatchObject({ data: { imported_keys: null, existing_issuers: null } });
    expect(out.rotate).toMatchObject({ data: { success: true } });
    expect(out.tidy).toMatchObject({
      status: 202,
      body: {
        warnings: [
          "Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.",
        ],
      },
    });
    // The chain hvac built verifies with an independent parser; the CRL lists the revoked leaf.
    const root = new X509Certificate(String(out.root));
    const intermediate = new X509Certificate(String(out.intermediate));
    const leaf = new X509Certificate(String(out.leaf));
    expect(intermediate.checkIssued(root) && intermediate.verify(root.publicKey)).toBe(true);
    expect(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey)).toBe(true);
    const crl = new X509Crl(String(out.crl));
    expect(
      await crl.verify({ publicKey: await new PeculiarCertificate(intermediate.raw).publicKey.export() }),
    ).toBe(true);
    expect(crl.entries.map((entry) => entry.serialNumber.toLowerCase())).toEqual([
      leaf.serialNumber.toLowerCase(),
    ]);
  });

  it('surfaces a policy refusal as hvac.exceptions.Forbidden with permission denied', async () => {
    const out = await flow('denied');
    expect(out.error).toBe('Forbidden');
    expect(out.errors).toEqual(['1 error occurred:\n\t* permission denied\n\n']);
  });
});
