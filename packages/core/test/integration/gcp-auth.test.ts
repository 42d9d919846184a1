/**
 * `auth.gcp()` end to end: a local stand-in of the GCE metadata server and of the IAM Credentials API signs the
 * identity tokens with a test key, the dev server's `gcp` method verifies them against that key (`pem_keys`) and
 * applies the role's bindings.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { freePort } from '@leasehold/test-env';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auth, type Vault, type VaultEvents } from '../../src/index.js';
import {
  eventually,
  LeakRecorder,
  recordedClients,
  rootClient,
  signingKey,
  signJwt,
  writePolicy,
} from './helpers.js';

const EMAIL = 'orders@proj-a.iam.gserviceaccount.com';
const ACCESS_TOKEN = 'ya29.test-access-token-do-not-leak';
const key = signingKey();
const otherKey = signingKey();

/** What the metadata stand-in does on the next identity requests. */
const behaviour = { project: 'proj-a', zone: 'europe-west1-b', wrongKey: false, expired: false };
let identityCalls = 0;
let signCalls = 0;
const issued = new Set<string>();

function sign(claims: Record<string, unknown>): string {
  const jwt = signJwt(claims, behaviour.wrongKey ? otherKey.privateKey : key.privateKey);
  issued.add(jwt);
  return jwt;
}

function startMetadata(): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://metadata');
    const base = '/computeMetadata/v1/instance/service-accounts/default';
    const now = Math.floor(Date.now() / 1000);
    if (url.pathname.startsWith('/computeMetadata/') && req.headers['metadata-flavor'] !== 'Google') {
      res.writeHead(403).end('Missing Metadata-Flavor:Google header');
      return;
    }
    if (url.pathname === `${base}/identity`) {
      identityCalls += 1;
      const exp = behaviour.expired ? now - 600 : now + 3600;
      res.end(
        sign({
          iss: 'https://accounts.google.com',
          aud: url.searchParams.get('audience'),
          sub: '109876543210',
          email: EMAIL,
          iat: now,
          exp,
          google: {
            compute_engine: {
              project_id: behaviour.project,
              project_number: 1234,
              zone: behaviour.zone,
              instance_id: '555',
              instance_name: 'orders-1',
            },
          },
        }),
      );
      return;
    }
    if (url.pathname === `${base}/email`) {
      res.end(EMAIL);
      return;
    }
    if (url.pathname === `${base}/token`) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: ACCESS_TOKEN, expires_in: 3599, token_type: 'Bearer' }));
      return;
    }
    const signJwtPath = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):signJwt$/.exec(url.pathname);
    if (req.method === 'POST' && signJwtPath) {
      if (req.headers.authorization !== `Bearer ${ACCESS_TOKEN}`) {
        res.writeHead(401).end('{"error":{"code":401}}');
        return;
      }
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        signCalls += 1;
        const payload = JSON.parse(JSON.parse(body).payload as string) as Record<string, unknown>;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keyId: 'test', signedJwt: sign({ ...payload, iat: now }) }));
      });
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const recorder = new LeakRecorder();
let metadata: Server;
let metadataHost: string;
let server: DevServer;
let root: Vault;

const { clients, client, loginError } = recordedClients(recorder, () => server.url);

beforeAll(async () => {
  recorder.secret(ACCESS_TOKEN);
  metadata = await startMetadata();
  metadataHost = `127.0.0.1:${(metadata.address() as AddressInfo).port}`;
  server = await startDevServer();
  recorder.secret(server.rootToken);
  root = rootClient(server);
  await writePolicy(root, 'gcp-app', 'path "secret/*" { capabilities = ["read"] }');
  await root.request('POST', 'sys/auth/gcp', { body: { type: 'gcp' } });
  await root.request('POST', 'auth/gcp/config', { body: { pem_keys: [key.publicPem] } });
  const ttl = { token_policies: 'gcp-app', token_ttl: '2s', token_max_ttl: '4s' };
  await root.request('POST', 'auth/gcp/role/vm', {
    body: { type: 'gce', bound_projects: ['proj-a'], bound_zones: ['europe-west1-b'], ...ttl },
  });
  await root.request('POST', 'auth/gcp/role/sa', {
    body: { type: 'iam', bound_service_accounts: [EMAIL], ...ttl },
  });
  await root.request('POST', 'auth/gcp/role/other-sa', {
    body: { type: 'iam', bound_service_accounts: ['someone@proj-b.iam.gserviceaccount.com'], ...ttl },
  });
});

afterEach(async () => {
  // Each test's clients stop here, so the next test counts only its own logins.
  await Promise.all(clients.splice(0).map((c) => c.close()));
  Object.assign(behaviour, { project: 'proj-a', zone: 'europe-west1-b', wrongKey: false, expired: false });
  delete process.env.GCE_METADATA_HOST;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await root?.close();
  await server?.close();
  await new Promise((r) => metadata?.close(r));
  for (const jwt of issued) recorder.secret(jwt);
  expect(recorder.leaks()).toEqual([]);
});

describe('auth.gcp() against the dev server and a metadata server stand-in', () => {
  it('gce: the instance identity token logs in; the token carries the instance metadata', async () => {
    const vault = client(auth.gcp({ role: 'vm', type: 'gce', metadataHost }));
    await vault.ready({ timeoutMs: 10_000 });
    const self = await vault.request<{ policies: string[]; meta: Record<string, string> }>(
      'GET',
      'auth/token/lookup-self',
    );
    expect(self.body?.data?.policies).toContain('gcp-app');
    expect(self.body?.data?.meta).toMatchObject({
      project_id: 'proj-a',
      zone: 'europe-west1-b',
      instance_id: '555',
    });
  });

  it('iam: a JWT signed through the IAM Credentials API logs in', async () => {
    const before = signCalls;
    const vault = client(
      auth.gcp({ role: 'sa', type: 'iam', metadataHost, iamCredentialsEndpoint: `http://${metadataHost}` }),
    );
    await vault.ready({ timeoutMs: 10_000 });
    expect(signCalls - before).toBe(1);
    const self = await vault.request<{ meta: Record<string, string> }>('GET', 'auth/token/lookup-self');
    expect(self.body?.data?.meta).toMatchObject({ service_account_email: EMAIL, project_id: 'proj-a' });
  });

  it('wrong identity: another project, zone or service account is refused with 400, as Vault answers', async () => {
    behaviour.project = 'proj-z';
    const vm = await loginError(client(auth.gcp({ role: 'vm', type: 'gce', metadataHost })));
    expect(vm.code).toBe('VAULT_LOGIN_FAILED');
    expect(vm.status).toBe(400);
    expect(vm.message).toContain('instance "555" (project "proj-z") not in bound projects [proj-a]');

    behaviour.project = 'proj-a';
    behaviour.zone = 'us-east1-a';
    expect((await loginError(client(auth.gcp({ role: 'vm', type: 'gce', metadataHost })))).message).toContain(
      'instance zone us-east1-a is not in role zones',
    );

    const sa = await loginError(
      client(
        auth.gcp({
          role: 'other-sa',
          type: 'iam',
          metadataHost,
          iamCredentialsEndpoint: `http://${metadataHost}`,
        }),
      ),
    );
    expect(sa.status).toBe(400);
    expect(sa.message).toContain(`service account ${EMAIL} (id: ) is not authorized for role`);
  });

  it('a token signed by another key, or expired, is refused', async () => {
    behaviour.wrongKey = true;
    const forged = await loginError(client(auth.gcp({ role: 'vm', type: 'gce', metadataHost })));
    expect(forged.code).toBe('VAULT_LOGIN_FAILED');
    expect(forged.message).toContain('error validating token');

    behaviour.wrongKey = false;
    behaviour.expired = true;
    const expired = await loginError(client(auth.gcp({ role: 'vm', type: 'gce', metadataHost })));
    expect(expired.code).toBe('VAULT_LOGIN_FAILED');
    expect(expired.status).toBe(400);
  });

  it('metadata server down: VAULT_UNAVAILABLE naming the method and the endpoint', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const error = await loginError(client(auth.gcp({ role: 'vm', type: 'gce', metadataHost: down })));
    expect(error.code).toBe('VAULT_UNAVAILABLE');
    expect(error.message).toMatch(
      /^gcp login \(gce\): the metadata server's identity endpoint did not answer/,
    );
  });

  it('GCE_METADATA_HOST is honoured, and the token is fetched again on each re-login at max TTL', async () => {
    process.env.GCE_METADATA_HOST = metadataHost;
    const before = identityCalls;
    const vault = client(auth.gcp({ role: 'vm', type: 'gce' }));
    const logins: VaultEvents['login'][] = [];
    vault.on('login', (e) => logins.push(e));
    await vault.ready({ timeoutMs: 10_000 });
    await eventually(async () => expect(logins.length).toBeGreaterThanOrEqual(2), 20_000, 100);
    expect(logins[0]?.method).toBe('gcp');
    expect(identityCalls - before).toBe(logins.length);
  });

  it('rejects bad options with VAULT_CONFIG naming the option', () => {
    expect(() => auth.gcp({ role: 'vm', type: 'gke' as never })).toThrow(/auth\.gcp\.type.*"gce" or "iam"/);
    expect(() => auth.gcp({ role: 'sa', type: 'iam', jwtExpSeconds: 3600 })).toThrow(
      /auth\.gcp\.jwtExpSeconds/,
    );
  });
});
