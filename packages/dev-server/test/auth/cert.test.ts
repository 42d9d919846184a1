import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCertBackend, INVALID_CERTIFICATE } from '../../src/backends/auth/cert.js';
import type { Backend } from '../../src/sdk/index.js';
import { call, expectError, makeContext, request, type TestClock, tokenFromLogin } from './harness.js';
import { type Issued, makeCa, makeLeaf, type TestCa } from './pki.js';

let ca: TestCa;
let otherCa: TestCa;
let clientA: Issued;
let clientB: Issued;
let rogue: Issued;
let expired: Issued;

beforeAll(async () => {
  ca = await makeCa('Leasehold Test CA');
  otherCa = await makeCa('Other CA');
  clientA = await makeLeaf(ca, 'client-a.example.com');
  clientB = await makeLeaf(ca, 'client-b.internal');
  rogue = await makeLeaf(otherCa, 'client-a.example.com');
  expired = await makeLeaf(ca, 'client-a.example.com', { startDaysAgo: 10, ttlDays: 9 });
});

describe('cert backend (handle level)', () => {
  let backend: Backend;
  let clock: TestClock;

  beforeEach(() => {
    const made = makeContext('auth/cert/');
    clock = made.clock;
    backend = createCertBackend(made.context);
  });

  const login = (der: Buffer | undefined, data: Record<string, unknown> = {}) =>
    backend.handle(request('update', 'login', data, der ? { clientCertificate: der } : {}));

  it('certs CRUD and validation', async () => {
    await expectError(backend.handle(request('update', 'certs/web', {})), 400, 'missing certificate');
    await expectError(
      backend.handle(request('update', 'certs/web', { certificate: 'not a pem' })),
      400,
      'failed to parse certificate: expected a PEM-encoded X.509 certificate',
    );
    expect(
      await backend.handle(
        request('update', 'certs/web', {
          certificate: ca.pem,
          allowed_common_names: '*.example.com',
          token_policies: 'web',
          token_ttl: '30m',
          display_name: 'webapps',
        }),
      ),
    ).toBeNull();
    const read = await call(backend, 'read', 'certs/web');
    expect(read.data).toMatchObject({
      certificate: ca.pem,
      allowed_common_names: ['*.example.com'],
      display_name: 'webapps',
      token_policies: ['web'],
      token_ttl: 1800,
    });
    expect((await call(backend, 'list', 'certs/')).data).toEqual({ keys: ['web'] });
    await backend.handle(request('delete', 'certs/web'));
    expect(await backend.handle(request('list', 'certs/'))).toBeNull();
  });

  it('login with a client certificate issued by the configured CA', async () => {
    await backend.handle(
      request('update', 'certs/web', {
        certificate: ca.pem,
        allowed_common_names: ['*.example.com'],
        token_policies: ['web'],
        token_ttl: 1800,
        display_name: 'webapps',
      }),
    );
    const response = await call(backend, 'update', 'login', {}, { clientCertificate: clientA.der });
    expect(response.auth).toMatchObject({
      policies: ['web'],
      ttl: 1800,
      renewable: true,
      displayName: 'cert-webapps',
      tokenType: 'service',
      metadata: { cert_name: 'web', common_name: 'client-a.example.com' },
    });
    // Vault's metadata: serial number in decimal, key identifiers as colon-separated hex.
    const serial = BigInt(`0x${clientA.serialNumber.replace(/:/g, '')}`).toString(10);
    expect(response.auth?.metadata.serial_number).toBe(serial);
    expect(response.auth?.metadata.subject_key_id).toMatch(/^([0-9a-f]{2}:)+[0-9a-f]{2}$/);
    expect(response.auth?.metadata.authority_key_id).toMatch(/^([0-9a-f]{2}:)+[0-9a-f]{2}$/);
    // Naming the entry explicitly works as well.
    await call(backend, 'update', 'login', { name: 'web' }, { clientCertificate: clientA.der });
  });

  it('a pinned leaf certificate trusts exactly that certificate', async () => {
    await backend.handle(
      request('update', 'certs/pinned', { certificate: clientB.pem, token_policies: ['pin'] }),
    );
    const response = await call(backend, 'update', 'login', {}, { clientCertificate: clientB.der });
    expect(response.auth?.metadata.cert_name).toBe('pinned');
    await expectError(login(clientA.der), 400, INVALID_CERTIFICATE);
  });

  it('failures: no certificate, other CA, CN not allowed, expired, wrong name, garbage DER', async () => {
    await backend.handle(
      request('update', 'certs/web', { certificate: ca.pem, allowed_common_names: ['*.example.com'] }),
    );
    await expectError(login(undefined), 400, INVALID_CERTIFICATE);
    await expectError(login(rogue.der), 400, INVALID_CERTIFICATE);
    await expectError(login(clientB.der), 400, INVALID_CERTIFICATE);
    await expectError(login(expired.der), 400, INVALID_CERTIFICATE);
    await expectError(login(clientA.der, { name: 'nope' }), 400, INVALID_CERTIFICATE);
    await expectError(login(Buffer.from('definitely not DER')), 400, INVALID_CERTIFICATE);
    // The server clock decides validity: 11 days later client A has expired as well.
    clock.advance(11 * 86_400);
    await expectError(login(clientA.der), 400, INVALID_CERTIFICATE);
  });

  it('renewAuth follows the entry', async () => {
    await backend.handle(
      request('update', 'certs/web', { certificate: ca.pem, token_ttl: 60, token_max_ttl: 300 }),
    );
    const response = await call(backend, 'update', 'login', {}, { clientCertificate: clientA.der });
    const token = tokenFromLogin(response, clock.now);
    expect(await backend.renewAuth?.(token)).toEqual({ ttl: 60, maxTtl: 300, period: 0 });
    await backend.handle(request('delete', 'certs/web'));
    await expectError(
      backend.renewAuth?.(token) ?? Promise.resolve(),
      400,
      'certificate "web" no longer exists',
    );
  });
});
