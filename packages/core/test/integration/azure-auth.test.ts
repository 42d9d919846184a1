/**
 * `auth.azure()` end to end: a local stand-in of the Azure Instance Metadata Service issues managed-identity tokens
 * signed with a test key and describes the instance; the dev server's `azure` method verifies the token against
 * that key (`pem_keys`), its issuer and audience, and applies the role's bindings.
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

const TENANT = '11111111-2222-3333-4444-555555555555';
const RESOURCE = 'https://management.azure.com/';
const OID = 'aaaaaaaa-0000-0000-0000-000000000001';
const key = signingKey();
const otherKey = signingKey();
const behaviour = { oid: OID, resourceGroup: 'rg-orders', wrongKey: false, expired: false, vmss: '' };
let tokenCalls = 0;
const issued = new Set<string>();

function startImds(): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://imds');
    if (req.headers.metadata !== 'true') {
      res
        .writeHead(400)
        .end('{"error":"invalid_request","error_description":"Required metadata header not specified"}');
      return;
    }
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/metadata/identity/oauth2/token') {
      tokenCalls += 1;
      const now = Math.floor(Date.now() / 1000);
      const jwt = signJwt(
        {
          iss: `https://sts.windows.net/${TENANT}/`,
          aud: url.searchParams.get('resource'),
          oid: behaviour.oid,
          tid: TENANT,
          groups: ['group-orders'],
          iat: now,
          nbf: now,
          exp: behaviour.expired ? now - 60 : now + 3600,
        },
        behaviour.wrongKey ? otherKey.privateKey : key.privateKey,
      );
      issued.add(jwt);
      res.end(
        JSON.stringify({
          access_token: jwt,
          expires_in: '3599',
          resource: url.searchParams.get('resource'),
          token_type: 'Bearer',
        }),
      );
      return;
    }
    if (url.pathname === '/metadata/instance') {
      res.end(
        JSON.stringify({
          compute: {
            subscriptionId: 'sub-1',
            resourceGroupName: behaviour.resourceGroup,
            name: behaviour.vmss ? 'orders_0' : 'orders-vm',
            vmScaleSetName: behaviour.vmss,
            location: 'westeurope',
          },
        }),
      );
      return;
    }
    res.writeHead(404).end('{}');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const recorder = new LeakRecorder();
let imds: Server;
let imdsUrl: string;
let server: DevServer;
let root: Vault;

const { clients, client, loginError } = recordedClients(recorder, () => server.url);

beforeAll(async () => {
  imds = await startImds();
  imdsUrl = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
  server = await startDevServer();
  recorder.secret(server.rootToken);
  root = rootClient(server);
  await writePolicy(root, 'azure-app', 'path "secret/*" { capabilities = ["read"] }');
  await root.request('POST', 'sys/auth/azure', { body: { type: 'azure' } });
  await root.request('POST', 'auth/azure/config', {
    body: { tenant_id: TENANT, resource: RESOURCE, pem_keys: [key.publicPem] },
  });
  await root.request('POST', 'auth/azure/role/orders', {
    body: {
      bound_service_principal_ids: [OID],
      bound_subscription_ids: ['sub-1'],
      bound_resource_groups: ['rg-orders'],
      token_policies: 'azure-app',
      token_ttl: '2s',
      token_max_ttl: '4s',
    },
  });
});

afterEach(async () => {
  // Each test's clients stop here, so the next test counts only its own logins.
  await Promise.all(clients.splice(0).map((c) => c.close()));
  Object.assign(behaviour, {
    oid: OID,
    resourceGroup: 'rg-orders',
    wrongKey: false,
    expired: false,
    vmss: '',
  });
  delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await root?.close();
  await server?.close();
  await new Promise((r) => imds?.close(r));
  for (const jwt of issued) recorder.secret(jwt);
  expect(recorder.leaks()).toEqual([]);
});

describe('auth.azure() against the dev server and an IMDS stand-in', () => {
  it('logs in with the managed identity token and the instance from IMDS', async () => {
    const vault = client(auth.azure({ role: 'orders', metadataEndpoint: imdsUrl }));
    await vault.ready({ timeoutMs: 10_000 });
    const self = await vault.request<{ policies: string[]; meta: Record<string, string> }>(
      'GET',
      'auth/token/lookup-self',
    );
    expect(self.body?.data?.policies).toContain('azure-app');
    expect(self.body?.data?.meta).toMatchObject({
      subscription_id: 'sub-1',
      resource_group_name: 'rg-orders',
      vm_name: 'orders-vm',
    });
  });

  it('wrong identity: another service principal or resource group is refused with 400', async () => {
    behaviour.oid = 'bbbbbbbb-0000-0000-0000-000000000002';
    const sp = await loginError(client(auth.azure({ role: 'orders', metadataEndpoint: imdsUrl })));
    expect(sp.code).toBe('VAULT_LOGIN_FAILED');
    expect(sp.status).toBe(400);
    expect(sp.message).toContain('service principal not authorized');

    behaviour.oid = OID;
    behaviour.resourceGroup = 'rg-other';
    const rg = await loginError(client(auth.azure({ role: 'orders', metadataEndpoint: imdsUrl })));
    expect(rg.message).toContain('resource group not authorized');
  });

  it('a token for another audience, signed by another key, or expired is refused', async () => {
    const audience = await loginError(
      client(
        auth.azure({ role: 'orders', resource: 'https://vault.example.com', metadataEndpoint: imdsUrl }),
      ),
    );
    expect(audience.code).toBe('VAULT_LOGIN_FAILED');
    behaviour.wrongKey = true;
    expect((await loginError(client(auth.azure({ role: 'orders', metadataEndpoint: imdsUrl })))).code).toBe(
      'VAULT_LOGIN_FAILED',
    );
    behaviour.wrongKey = false;
    behaviour.expired = true;
    const expired = await loginError(client(auth.azure({ role: 'orders', metadataEndpoint: imdsUrl })));
    expect(expired.code).toBe('VAULT_LOGIN_FAILED');
    expect(expired.status).toBe(400);
  });

  it('IMDS down: VAULT_UNAVAILABLE naming the method and the endpoint', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const error = await loginError(client(auth.azure({ role: 'orders', metadataEndpoint: down })));
    expect(error.code).toBe('VAULT_UNAVAILABLE');
    expect(error.message).toMatch(
      /^azure login: the instance metadata service's token endpoint did not answer/,
    );
  });

  it('AZURE_POD_IDENTITY_AUTHORITY_HOST is honoured, and the token is fetched again on each re-login at max TTL', async () => {
    process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = imdsUrl;
    const before = tokenCalls;
    const vault = client(auth.azure({ role: 'orders' }));
    const logins: VaultEvents['login'][] = [];
    vault.on('login', (e) => logins.push(e));
    await vault.ready({ timeoutMs: 10_000 });
    await eventually(async () => expect(logins.length).toBeGreaterThanOrEqual(2), 20_000, 100);
    expect(logins[0]?.method).toBe('azure');
    expect(tokenCalls - before).toBe(logins.length);
  });

  it('rejects bad options with VAULT_CONFIG naming the option', () => {
    expect(() => auth.azure({ role: '' })).toThrow(/auth\.azure\.role/);
    expect(() => auth.azure({ role: 'orders', metadataEndpoint: '169.254.169.254' })).toThrow(
      /auth\.azure\.metadataEndpoint.*http\(s\) URL/,
    );
  });
});
