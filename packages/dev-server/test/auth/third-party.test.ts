/**
 * The auth methods through an unmodified third-party Vault client (node-vault): its approle, userpass, jwt and
 * kubernetes commands, token handling (`tokenSource`) and error statuses.
 */
import { exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import nodeVault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/index.js';

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer();
  const root = client(server.rootToken);
  await root.addPolicy({ name: 'app', rules: 'path "secret/data/app" { capabilities = ["read"] }' });
  await root.write('secret/data/app', { data: { user: 'app' } });
});
afterAll(async () => {
  await server.close();
});

function client(token?: string) {
  return nodeVault({ endpoint: server.url, apiVersion: 'v1', ...(token ? { token } : {}) });
}

async function failure(promise: Promise<unknown>): Promise<{ status: number; errors: unknown }> {
  try {
    await promise;
    return { status: 200, errors: undefined };
  } catch (error) {
    const response = (error as { response?: { statusCode: number; body?: { errors?: unknown } } }).response;
    return { status: response?.statusCode ?? -1, errors: response?.body?.errors };
  }
}

describe('node-vault auth commands against the dev server', () => {
  it('approle: role, role-id, secret-id, LIST accessors, login (token picked up), read; bad secret → 400', async () => {
    const root = client(server.rootToken);
    await root.enableAuth({ mount_point: 'approle', type: 'approle' });
    await root.addApproleRole({ role_name: 'app', policies: 'app', token_ttl: 600 });
    const { data: roleId } = await root.getApproleRoleId({ role_name: 'app' });
    const { data: secret } = await root.getApproleRoleSecret({ role_name: 'app', metadata: '{"env":"ci"}' });
    const { data: accessors } = await root.approleSecretAccessors({ role_name: 'app' });
    expect(accessors.keys).toEqual([secret.secret_id_accessor]);

    const app = client();
    const login = await app.approleLogin({ role_id: roleId.role_id, secret_id: secret.secret_id });
    expect(login.auth.policies).toEqual(['app', 'default']);
    expect(login.auth.metadata).toEqual({ role_name: 'app', env: 'ci' });
    expect(login.auth.lease_duration).toBe(600);
    expect(app.token).toBe(login.auth.client_token);
    expect((await app.read('secret/data/app')).data.data).toEqual({ user: 'app' });

    const wrong = await failure(
      client().approleLogin({ role_id: roleId.role_id, secret_id: 'not-the-secret-id' }),
    );
    expect(wrong).toEqual({ status: 400, errors: ['invalid role or secret ID'] });
  });

  it('userpass, jwt and kubernetes logins', async () => {
    const root = client(server.rootToken);
    await root.enableAuth({ mount_point: 'userpass', type: 'userpass' });
    await root.write('auth/userpass/users/alice', { password: 'alice-password', token_policies: 'app' });
    const alice = client();
    await alice.userpassLogin({ username: 'alice', password: 'alice-password' });
    expect((await alice.read('secret/data/app')).data.data.user).toBe('app');
    const bad = await failure(client().userpassLogin({ username: 'alice', password: 'nope-nope' }));
    expect(bad).toEqual({ status: 400, errors: ['invalid username or password'] });

    const key = await generateKeyPair('ES256', { extractable: true });
    const sign = (claims: JWTPayload) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key.privateKey);
    const pem = await exportSPKI(key.publicKey);

    await root.enableAuth({ mount_point: 'jwt', type: 'jwt' });
    await root.write('auth/jwt/config', { jwt_validation_pubkeys: [pem] });
    await root.write('auth/jwt/role/ci', {
      user_claim: 'sub',
      bound_audiences: 'vault',
      token_policies: 'app',
    });
    const ci = client();
    const jwtLogin = await ci.jwtLogin({ role: 'ci', jwt: await sign({ sub: 'pipeline', aud: 'vault' }) });
    expect(jwtLogin.auth.metadata).toEqual({ role: 'ci' });
    expect((await ci.read('secret/data/app')).data.data.user).toBe('app');

    await root.enableAuth({ mount_point: 'kubernetes', type: 'kubernetes' });
    await root.write('auth/kubernetes/config', { kubernetes_host: 'https://k8s.test', pem_keys: [pem] });
    await root.write('auth/kubernetes/role/app', {
      bound_service_account_names: 'app',
      bound_service_account_namespaces: 'prod',
      token_policies: 'app',
    });
    const pod = client();
    // node-vault's kubernetesLogin needs the mount named (its default path template is unset).
    const k8sLogin = await pod.kubernetesLogin({
      mount_point: 'kubernetes',
      role: 'app',
      jwt: await sign({
        'kubernetes.io': { namespace: 'prod', serviceaccount: { name: 'app', uid: 'u-1' } },
      }),
    });
    expect(k8sLogin.auth.metadata.service_account_namespace).toBe('prod');
    expect((await pod.read('secret/data/app')).data.data.user).toBe('app');
  });
});
