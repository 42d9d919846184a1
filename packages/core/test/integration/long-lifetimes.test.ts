/**
 * Lifetimes longer than Node's longest timer (2³¹−1 ms, about 24.8 days) over real HTTP and the real clock: a
 * non-renewable 768 h database lease (Vault's default max TTL), a 1-year PKI certificate and a renewable 1-year
 * token must each be issued once and then wait. Before timers were chained, each of them fired after 1 ms and
 * looped: 1,200–2,000 credential requests, 54 certificates and ~1,500 renewals in 3 s.
 *
 * No long wait is needed to see that: Node runs timers in the order they are due, so a timer clamped to 1 ms that was
 * armed before a 50 ms wait has fired by the time the wait ends, and its request was sent before the sentinel request
 * that follows the wait (see `afterClampedTimersFired`). The exact instants of these lifetimes are asserted on a
 * manual clock in the unit tests (lease.test.ts, token-lifecycle.test.ts) and the chaining of Node timers in
 * clock.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { auth, createVault, type Vault } from '../../src/index.js';
import { envelope, HttpStub, type SeenRequest } from '../helpers/http-stub.js';

const HOURS_768 = 768 * 3600;
/** A token of one year (a mount or role tuned past the default max TTL): its first renewal is due after 243 days. */
const YEAR = 365 * 24 * 3600;
/** Long enough for any timer clamped to 1 ms to be due, many times over: not a bound on anything under test. */
const SETTLE_MS = 50;

let stubs: HttpStub[] = [];
let vaults: Vault[] = [];
afterEach(async () => {
  await Promise.all(vaults.map((v) => v.close({ revokeToken: false, timeoutMs: 500 })));
  await Promise.all(stubs.map((s) => s.close()));
  vaults = [];
  stubs = [];
});

/** A Vault stand-in: token lookup (`tokenTtl`), renew-self, database creds and PKI issue. */
async function longLivedVault(tokenTtl: number): Promise<{ vault: Vault; stub: HttpStub }> {
  const stub = new HttpStub();
  let serial = 0;
  stub.handler = (req: SeenRequest) => {
    const path = req.url.replace(/^\/v1\//, '').split('?')[0];
    switch (path) {
      case 'sys/health':
        return { status: 200, body: { initialized: true, sealed: false, standby: false } };
      case 'auth/token/lookup-self':
        return {
          status: 200,
          body: envelope({
            data: { accessor: 'acc', ttl: tokenTtl, creation_ttl: tokenTtl, renewable: tokenTtl > 0 },
          }),
        };
      case 'auth/token/renew-self':
        return {
          status: 200,
          body: envelope({
            auth: { client_token: 'hvs.long', accessor: 'acc', lease_duration: tokenTtl, renewable: true },
          }),
        };
      case 'database/creds/app':
        serial += 1;
        return {
          status: 200,
          body: envelope({
            lease_id: `database/creds/app/${serial}`,
            lease_duration: HOURS_768,
            renewable: false,
            data: { username: `v-app-${serial}`, password: `pw-${serial}` },
          }),
        };
      case 'pki/issue/web':
        serial += 1;
        return {
          status: 200,
          body: envelope({
            data: {
              certificate: '-----BEGIN CERTIFICATE-----\nMII…\n-----END CERTIFICATE-----',
              private_key: '-----BEGIN EC PRIVATE KEY-----\nMHc…\n-----END EC PRIVATE KEY-----',
              serial_number: `0${serial}`,
              expiration: Math.floor(Date.now() / 1000) + 365 * 24 * 3600,
            },
          }),
        };
      default:
        return { status: 404, body: { errors: [] } };
    }
  };
  const address = await stub.listen();
  stubs.push(stub);
  const vault = createVault({ env: {}, address, auth: auth.token({ token: 'hvs.long' }) });
  vaults.push(vault);
  return { vault, stub };
}

const count = (stub: HttpStub, path: string): number =>
  stub.seen.filter((r) => r.url.split('?')[0] === `/v1/${path}`).length;

/**
 * Waits until every timer clamped to 1 ms (the bug) has fired and sent its request: {@link SETTLE_MS} of real time,
 * then one sentinel request through the same client, answered after anything such a timer sent.
 */
async function afterClampedTimersFired(vault: Vault, stub: HttpStub): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const res = await vault.request('GET', 'sys/health');
  expect(res.status).toBe(200);
  expect(count(stub, 'sys/health')).toBe(1);
}

describe('lifetimes longer than 24.8 days', () => {
  it('a 768 h non-renewable database lease and a 1-year certificate are issued once and wait', async () => {
    const { vault, stub } = await longLivedVault(0);
    const creds = vault.database.credentials('app');
    const cert = vault.pki.certificate('web', { commonName: 'api.internal', ttl: '8760h' });
    await Promise.all([creds.ready({ timeoutMs: 30_000 }), cert.ready({ timeoutMs: 30_000 })]);
    await afterClampedTimersFired(vault, stub);
    expect(count(stub, 'database/creds/app')).toBe(1);
    expect(count(stub, 'pki/issue/web')).toBe(1);
    expect(creds.current().generation).toBe(1);
    expect(cert.current().generation).toBe(1);
    expect(creds.state).toBe('issued');
    expect(cert.state).toBe('issued');
  });

  it('a renewable 1-year token is looked up once and not renewed', async () => {
    const { vault, stub } = await longLivedVault(YEAR);
    await vault.ready({ timeoutMs: 30_000 });
    await afterClampedTimersFired(vault, stub);
    expect(count(stub, 'auth/token/lookup-self')).toBe(1);
    expect(count(stub, 'auth/token/renew-self')).toBe(0);
    expect(vault.health().status).toBe('ready');
  });
});
