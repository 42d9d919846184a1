import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';
import { newState, testEngine } from './fixtures.js';
import { call } from './helpers.js';

const lines: string[] = [];
const state = newState();
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({
    rootToken: 'root-token-must-not-leak',
    secretEngines: { test: testEngine(state) },
    authMethods: { test: testEngine(state) },
    logger: (level, message, fields) => lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
  });
  await server.mount('db', 'test');
  await server.enableAuth('up', 'test');
});
afterAll(async () => {
  await server.close();
});

it('never logs tokens, passwords or secret values over a full flow', async () => {
  const secrets: string[] = [
    server.rootToken,
    server.unsealKey,
    'open-sesame',
    'kv-secret-value-42',
    'p4ssw0rd-secret',
  ];
  const login = await call(server, 'POST', 'auth/up/login', {
    token: null,
    body: { password: 'open-sesame', ttl: 60 },
  });
  const token = login.body.auth.client_token as string;
  secrets.push(token, login.body.auth.accessor);
  await call(server, 'POST', 'secret/data/app', { body: { data: { password: 'kv-secret-value-42' } } });
  await call(server, 'GET', 'secret/data/app', { token });
  const creds = await call(server, 'GET', 'db/creds/app');
  await call(server, 'PUT', 'sys/leases/renew', { body: { lease_id: creds.body.lease_id } });
  await call(server, 'PUT', 'sys/leases/revoke', { body: { lease_id: creds.body.lease_id } });
  const created = await call(server, 'POST', 'auth/token/create', { body: { ttl: 60 } });
  secrets.push(created.body.auth.client_token);
  const wrapped = await call(server, 'GET', 'secret/data/app', { headers: { 'x-vault-wrap-ttl': '60' } });
  secrets.push(wrapped.body.wrap_info.token);
  await call(server, 'POST', 'sys/wrapping/unwrap', { token: wrapped.body.wrap_info.token });
  await call(server, 'GET', 'secret/data/app', { token: 'hvs.bogus-token-value' });
  secrets.push('hvs.bogus-token-value');
  await call(server, 'POST', 'auth/token/revoke-self', { token });
  server.seal();
  await call(server, 'PUT', 'sys/unseal', { token: null, body: { key: server.unsealKey } });

  expect(lines.length).toBeGreaterThan(10);
  expect(lines.some((l) => l.includes('"path":"secret/data/app"'))).toBe(true);
  const all = lines.join('\n');
  for (const secret of secrets) expect(all).not.toContain(secret);
});
