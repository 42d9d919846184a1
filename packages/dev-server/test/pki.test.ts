import 'reflect-metadata';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { X509Certificate as PeculiarCertificate, X509Crl } from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCertificateRequest, generateCertificateAuthority } from '../src/util/x509.js';
import { type EngineHarness, startEngine } from './support/engine.js';

// Every test gets a fresh dev server with PKI mounted through `POST /v1/sys/mounts/pki` (max TTL 10 years, as
// `vault secrets tune -max-lease-ttl=87600h pki` would set).
let engine: EngineHarness;
let clock = Date.now();
const post = (path: string, data: Record<string, unknown> = {}) => engine.post(path, data);
const read = (path: string) => engine.call('read', path);
const list = (path: string) => engine.call('list', path);
/** Seconds from now until a unix-seconds expiration (fractional: compare with <= ttl). */
const secondsLeft = (expiration: unknown) => Number(expiration) - Date.now() / 1000;

async function setupRoot(ttl = '87600h') {
  const root = await post('root/generate/internal', {
    common_name: 'Leasehold Test Root',
    ttl,
    key_type: 'ec',
  });
  expect(root.status).toBe(200);
  return root;
}

beforeEach(async () => {
  engine = await startEngine('pki', 'pki', { max_lease_ttl: '87600h' });
  clock = Date.now();
});
afterEach(async () => {
  await engine.close();
});

describe('pki CA', () => {
  it('generates an internal root and serves it from ca/pem, ca, cert/ca and cert/:serial', async () => {
    const root = await setupRoot();
    expect(root.data).not.toHaveProperty('private_key');
    const pem = String(root.data?.certificate);
    const ca = new X509Certificate(pem);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toContain('CN=Leasehold Test Root');
    expect(root.data?.serial_number).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2})+$/);
    expect(root.data?.issuing_ca).toBe(pem);
    expect(root.data?.expiration).toBe(Math.floor(new Date(ca.validTo).getTime() / 1000));

    const caPem = await read('ca/pem');
    expect(caPem.status).toBe(200);
    expect(caPem.contentType).toBe('application/pem-file');
    expect(caPem.text).toBe(pem);
    const caDer = await read('ca');
    expect(caDer.contentType).toBe('application/pkix-cert');
    expect(new X509Certificate(caDer.bytes).fingerprint256).toBe(ca.fingerprint256);
    // ca/pem, ca and cert/* need no token, as in Vault.
    const anonymous = await fetch(`${engine.server.url}/v1/pki/ca/pem`);
    expect(anonymous.status).toBe(200);
    expect(await anonymous.text()).toBe(pem);
    expect((await read('cert/ca')).data?.certificate).toBe(pem);
    const bySerial = await read(`cert/${String(root.data?.serial_number).replace(/:/g, '-')}`);
    expect(bySerial.data?.certificate).toBe(pem);
  });

  it('exports the root key when asked, and imports a CA bundle through config/ca', async () => {
    const exported = await post('root/generate/exported', {
      common_name: 'Exported Root',
      key_type: 'rsa',
      ttl: '24h',
    });
    expect(exported.data?.private_key_type).toBe('rsa');
    expect(String(exported.data?.private_key)).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);

    const other = await startEngine('pki', 'pki2');
    const external = await generateCertificateAuthority({ commonName: 'Imported Root', ttlSeconds: 3600 });
    const imported = await other.post('config/ca', {
      pem_bundle: `${external.certificatePem}${external.privateKeyPem}`,
    });
    expect(imported.status).toBe(200);
    expect(imported.data?.imported_issuers).toHaveLength(1);
    expect((await other.call('read', 'ca/pem')).text).toBe(external.certificatePem.trim());
    await other.post('roles/web', { allowed_domains: 'example.com', allow_subdomains: true });
    const issued = await other.post('issue/web', { common_name: 'a.example.com' });
    expect(
      new X509Certificate(String(issued.data?.certificate)).checkIssued(
        new X509Certificate(external.certificatePem),
      ),
    ).toBe(true);
    const bad = await other.post('config/ca', { pem_bundle: external.certificatePem });
    expect(bad.status).toBe(400);
    expect(bad.errors).toEqual(['no private key found in the PEM bundle']);
    await other.close();
  });
});

describe('pki issue', () => {
  it('issues a certificate that verifies against the CA and honours the role', async () => {
    const root = await setupRoot();
    const caCert = new X509Certificate(String(root.data?.certificate));
    const role = await post('roles/web', {
      allowed_domains: ['example.com'],
      allow_subdomains: true,
      max_ttl: '2h',
      ttl: '1h',
      key_type: 'ec',
      key_bits: 256,
    });
    expect(role.data).toMatchObject({
      allowed_domains: ['example.com'],
      max_ttl: 7200,
      ttl: 3600,
      key_type: 'ec',
    });
    expect((await read('roles/web')).data?.generate_lease).toBe(false);
    expect((await list('roles/')).data).toEqual({ keys: ['web'] });

    const issued = await post('issue/web', {
      common_name: 'api.example.com',
      alt_names: 'www.example.com',
      ip_sans: '127.0.0.1',
    });
    expect(issued.status).toBe(200);
    expect(issued.leaseId).toBe('');
    expect(issued.leaseDuration).toBe(0);
    const data = issued.data ?? {};
    const cert = new X509Certificate(String(data.certificate));
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.checkHost('api.example.com')).toBe('api.example.com');
    expect(cert.checkHost('www.example.com')).toBe('www.example.com');
    expect(cert.checkHost('evil.com')).toBeUndefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(data.issuing_ca).toBe(root.data?.certificate);
    expect(data.ca_chain).toEqual([root.data?.certificate]);
    expect(data.private_key_type).toBe('ec');
    expect(String(data.private_key)).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    expect(data.serial_number).toBe(cert.serialNumber.toLowerCase().match(/../g)?.join(':'));
    // role ttl (1h) is the default
    const expiresIn = secondsLeft(data.expiration);
    expect(expiresIn).toBeGreaterThan(3590);
    // Certificate times have whole-second precision: NotAfter may sit up to 1 s past now + ttl.
    expect(expiresIn).toBeLessThan(3601);
    expect(Number(data.expiration)).toBe(Math.floor(new Date(cert.validTo).getTime() / 1000));

    // explicit ttl honoured; above max_ttl capped with Vault's warning
    const short = await post('issue/web', { common_name: 'short.example.com', ttl: '90s' });
    expect(secondsLeft(short.data?.expiration)).toBeLessThanOrEqual(90);
    expect(secondsLeft(short.data?.expiration)).toBeGreaterThan(80);
    const capped = await post('issue/web', { common_name: 'long.example.com', ttl: '10h' });
    expect(secondsLeft(capped.data?.expiration)).toBeLessThanOrEqual(7200);
    expect(capped.warnings).toContain(
      'TTL "10h0m0s" is longer than permitted maxTTL "2h0m0s", so maxTTL is being used',
    );

    // pkcs8 private key format
    const pkcs8 = await post('issue/web', { common_name: 'p8.example.com', private_key_format: 'pkcs8' });
    expect(String(pkcs8.data?.private_key)).toMatch(/^-----BEGIN PRIVATE KEY-----/);

    // fetched back by serial
    const fetched = await read(`cert/${String(data.serial_number)}`);
    expect(fetched.data).toMatchObject({ certificate: data.certificate, revocation_time: 0 });
  });

  it('caps the certificate at the CA NotAfter', async () => {
    await setupRoot('1h');
    await post('roles/any', { allow_any_name: true, max_ttl: '100h', key_type: 'ec' });
    const issued = await post('issue/any', { common_name: 'svc', ttl: '50h' });
    const ca = new X509Certificate(String((await read('cert/ca')).data?.certificate));
    const caExpiration = Math.floor(new Date(ca.validTo).getTime() / 1000);
    expect(Number(issued.data?.expiration)).toBe(caExpiration);
    expect(issued.warnings?.[0]).toMatch(/extend past the issuing CA's NotAfter/);

    // Vault's leaf_not_after_behavior, per issuer: err refuses, permit lets the leaf outlive the CA.
    const issuer = await read('issuer/default');
    expect(issuer.data).toMatchObject({
      leaf_not_after_behavior: 'truncate',
      ca_chain: [ca.toString().trim()],
    });
    await post('issuer/default', { leaf_not_after_behavior: 'err' });
    const refused = await post('issue/any', { common_name: 'svc', ttl: '50h' });
    expect(refused.status).toBe(400);
    expect(refused.errors?.[0]).toMatch(
      /^cannot satisfy request, as TTL would result in notAfter of .* that is beyond the expiration of the CA certificate at /,
    );
    await post('issuer/default', { leaf_not_after_behavior: 'permit' });
    const permitted = await post('issue/any', { common_name: 'svc', ttl: '50h' });
    expect(Number(permitted.data?.expiration)).toBeGreaterThan(caExpiration + 40 * 3600);
    expect((await post('issuer/default', { leaf_not_after_behavior: 'sometimes' })).status).toBe(400);
  });

  it('serves issuers by reference and switches the default issuer', async () => {
    const first = await setupRoot();
    const second = await post('root/generate/internal', {
      common_name: 'Second Root',
      key_type: 'ec',
      issuer_name: 'second',
    });
    expect(second.warnings).toContain(
      'A default issuer already exists; this new issuer was not made the default issuer.',
    );
    expect((await read('cert/ca')).data?.certificate).toBe(first.data?.certificate);
    const pem = await read('issuer/second/pem');
    expect(pem.contentType).toBe('application/pem-file');
    expect(pem.text).toBe(second.data?.certificate);
    expect((await read('issuer/second/json')).data).toMatchObject({ issuer_name: 'second' });
    const listed = await list('issuers/');
    expect(listed.data?.keys).toEqual([first.data?.issuer_id, second.data?.issuer_id]);

    await post('config/issuers', { default: 'second' });
    expect((await read('config/issuers')).data).toMatchObject({ default: second.data?.issuer_id });
    expect((await read('ca/pem')).text).toBe(second.data?.certificate);
    await post('roles/any', { allow_any_name: true, key_type: 'ec' });
    const issued = await post('issue/any', { common_name: 'x' });
    expect(issued.data?.issuing_ca).toBe(second.data?.certificate);
    const viaFirst = await post(`issuer/${String(first.data?.issuer_id)}/issue/any`, { common_name: 'y' });
    expect(viaFirst.data?.issuing_ca).toBe(first.data?.certificate);
    expect((await read('issuer/nope')).errors).toEqual(['unable to find PKI issuer for reference: nope']);
  });

  it('rejects names and SANs outside the role policy with Vault-like errors', async () => {
    await setupRoot();
    await post('roles/web', {
      allowed_domains: 'example.com',
      allow_subdomains: true,
      allow_ip_sans: false,
      key_type: 'ec',
    });
    const cases: [Record<string, unknown>, string][] = [
      [{ common_name: 'foo.evil.com' }, 'common name foo.evil.com not allowed by this role'],
      [{ common_name: 'example.com' }, 'common name example.com not allowed by this role'],
      [
        { common_name: 'a.example.com', alt_names: 'b.evil.com' },
        'subject alternate name b.evil.com not allowed by this role',
      ],
      [
        { common_name: 'a.example.com', ip_sans: '10.0.0.1' },
        'IP Subject Alternative Names are not allowed in this role, but was provided via the API',
      ],
      [{ common_name: 'a.example.com', ip_sans: 'nope' }, 'the value "nope" is not a valid IP address'],
      [
        {},
        'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false',
      ],
    ];
    for (const [body, message] of cases) {
      const res = await post('issue/web', body);
      expect(res.status, message).toBe(400);
      expect(res.errors).toEqual([message]);
    }
    expect((await post('issue/nope', { common_name: 'x' })).errors).toEqual(['unknown role: nope']);
    // bare domain and localhost rules
    await post('roles/bare', { allowed_domains: 'example.com', allow_bare_domains: true, key_type: 'ec' });
    expect((await post('issue/bare', { common_name: 'example.com' })).status).toBe(200);
    expect((await post('issue/bare', { common_name: 'localhost' })).status).toBe(200);
    expect((await post('issue/bare', { common_name: 'a.example.com' })).status).toBe(400);
    expect((await post('roles/bad', { key_type: 'ec', key_bits: 1024 })).errors).toEqual([
      'unsupported bit length for EC key: 1024',
    ]);
    expect((await post('roles/bad', { ttl: '2h', max_ttl: '1h' })).errors).toEqual([
      '"ttl" value must be less than "max_ttl" value',
    ]);
  });

  it('URI SANs follow allowed_uri_sans; exclude_cn_from_sans keeps the CN out of the DNS SANs; der format', async () => {
    await setupRoot();
    await post('roles/spiffe', {
      allow_any_name: true,
      allowed_uri_sans: 'spiffe://cluster/*',
      key_type: 'rsa',
      client_flag: true,
      server_flag: false,
    });
    const issued = await post('issue/spiffe', {
      common_name: 'workload',
      uri_sans: 'spiffe://cluster/ns/default/sa/app',
      exclude_cn_from_sans: true,
    });
    const cert = new X509Certificate(String(issued.data?.certificate));
    expect(cert.subjectAltName).toBe('URI:spiffe://cluster/ns/default/sa/app');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(issued.data?.private_key_type).toBe('rsa');
    expect(String(issued.data?.private_key)).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect((await post('issue/spiffe', { common_name: 'w', uri_sans: 'spiffe://other/x' })).errors).toEqual([
      'URI Subject Alternative Name spiffe://other/x not allowed by this role',
    ]);
    const der = await post('issue/spiffe', { common_name: 'w', format: 'der', private_key_format: 'pkcs8' });
    const derCert = new X509Certificate(Buffer.from(String(der.data?.certificate), 'base64'));
    expect(derCert.subject).toContain('CN=w');
    expect(String(der.data?.private_key)).toMatch(/^MII/);
    expect((await post('issue/spiffe', { common_name: 'w', format: 'p12' })).errors).toEqual([
      'the "format" path parameter must be "pem", "der", or "pem_bundle"',
    ]);
  });

  it('fails clearly when no CA is configured', async () => {
    await post('roles/web', { allow_any_name: true, key_type: 'ec' });
    expect((await post('issue/web', { common_name: 'x' })).errors).toEqual([
      'no default issuer currently configured',
    ]);
    expect((await read('ca/pem')).status).toBe(400);
  });
});

describe('pki leases and revocation', () => {
  it('generate_lease returns a non-renewable lease to NotAfter whose revocation revokes the certificate', async () => {
    await setupRoot();
    await post('roles/leased', { allow_any_name: true, generate_lease: true, ttl: '30m', key_type: 'ec' });
    const issued = await post('issue/leased', { common_name: 'worker' });
    expect(issued.leaseId).toMatch(/^pki\/issue\/leased\/\w+$/);
    expect(issued.renewable).toBe(false);
    const toNotAfter = Number(issued.data?.expiration) - Math.floor(Date.now() / 1000);
    expect(Math.abs(issued.leaseDuration - toNotAfter)).toBeLessThanOrEqual(2);
    expect(issued.leaseDuration).toBeGreaterThan(1790);

    const lookup = await fetch(`${engine.server.url}/v1/sys/leases/lookup`, {
      method: 'PUT',
      headers: { 'x-vault-token': engine.server.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ lease_id: issued.leaseId }),
    });
    expect(lookup.status).toBe(200);
    expect(((await lookup.json()) as { data: unknown }).data).toMatchObject({
      id: issued.leaseId,
      renewable: false,
    });
    const before = await read(`cert/${String(issued.data?.serial_number)}`);
    expect(before.data?.revocation_time).toBe(0);

    const revoke = await fetch(`${engine.server.url}/v1/sys/leases/revoke`, {
      method: 'PUT',
      headers: { 'x-vault-token': engine.server.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ lease_id: issued.leaseId }),
    });
    expect(revoke.status).toBe(204);
    const fetched = await read(`cert/${String(issued.data?.serial_number)}`);
    expect(Math.abs(Number(fetched.data?.revocation_time) - Date.now() / 1000)).toBeLessThan(5);
    expect(Date.parse(String(fetched.data?.revocation_time_rfc3339))).toBeGreaterThan(clock - 1000);
    expect((await list('certs/revoked/')).data?.keys).toEqual([issued.data?.serial_number]);
  });

  it('revoke endpoint: by serial, idempotent, unknown serial and CA errors', async () => {
    const root = await setupRoot();
    await post('roles/r', { allow_any_name: true, key_type: 'ec' });
    const issued = await post('issue/r', { common_name: 'svc' });
    const serial = String(issued.data?.serial_number);
    const revoked = await post('revoke', { serial_number: serial });
    expect(revoked.status).toBe(200);
    expect(revoked.data?.state).toBe('revoked');
    expect(Math.abs(Number(revoked.data?.revocation_time) - Date.now() / 1000)).toBeLessThan(5);
    expect((await post('revoke', { serial_number: serial.replace(/:/g, '-') })).data?.revocation_time).toBe(
      revoked.data?.revocation_time,
    );
    expect((await post('revoke', { serial_number: '01:02' })).errors).toEqual([
      'certificate with serial 01:02 not found.',
    ]);
    expect((await post('revoke', {})).errors).toEqual([
      'The serial number or certificate to revoke must be provided.',
    ]);
    expect((await post('revoke', { serial_number: root.data?.serial_number })).status).toBe(400);

    await post('roles/nostore', { allow_any_name: true, no_store: true, key_type: 'ec' });
    const unstored = await post('issue/nostore', { common_name: 'ephemeral' });
    expect((await read(`cert/${String(unstored.data?.serial_number)}`)).status).toBe(404);
  });
});

describe('pki sign and crl', () => {
  it('signs a CSR under the role policy, taking CN and SANs from the request', async () => {
    const root = await setupRoot();
    const caCert = new X509Certificate(String(root.data?.certificate));
    await post('roles/svc', {
      allowed_domains: 'internal',
      allow_subdomains: true,
      key_type: 'ec',
      max_ttl: '1h',
    });
    const request = await createCertificateRequest({
      commonName: 'api.internal',
      dnsNames: ['api.internal', 'www.api.internal'],
      ipAddresses: ['10.0.0.7'],
      keyType: 'ec',
    });
    const signed = await post('sign/svc', { csr: request.csrPem, ttl: '10m' });
    expect(signed.status).toBe(200);
    expect(signed.data).not.toHaveProperty('private_key');
    const cert = new X509Certificate(String(signed.data?.certificate));
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(request.privateKeyPem))).toBe(true);
    expect(cert.checkHost('www.api.internal')).toBe('www.api.internal');
    expect(cert.checkIP('10.0.0.7')).toBe('10.0.0.7');
    expect(secondsLeft(signed.data?.expiration)).toBeLessThanOrEqual(600);

    const evil = await createCertificateRequest({ commonName: 'api.evil.com', keyType: 'ec' });
    expect((await post('sign/svc', { csr: evil.csrPem })).errors).toEqual([
      'common name api.evil.com not allowed by this role',
    ]);
    const rsa = await createCertificateRequest({ commonName: 'a.internal', keyType: 'rsa' });
    expect((await post('sign/svc', { csr: rsa.csrPem })).errors).toEqual(['role requires keys of type ec']);
    expect((await post('sign/svc', {})).errors).toEqual(['"csr" is empty']);
  });

  it('publishes revoked serials in a CRL signed by the CA', async () => {
    const root = await setupRoot();
    await post('roles/r', { allow_any_name: true, key_type: 'ec' });
    const kept = await post('issue/r', { common_name: 'kept' });
    const gone = await post('issue/r', { common_name: 'gone' });
    await post('revoke', { serial_number: gone.data?.serial_number });
    const der = await read('crl');
    expect(der.contentType).toBe('application/pkix-crl');
    const crl = new X509Crl(der.bytes);
    const caKey = await new PeculiarCertificate(String(root.data?.certificate)).publicKey.export();
    expect(await crl.verify({ publicKey: caKey })).toBe(true);
    const serials = crl.entries.map((e) => e.serialNumber.toLowerCase().match(/../g)?.join(':'));
    expect(serials).toEqual([gone.data?.serial_number]);
    expect(serials).not.toContain(kept.data?.serial_number);
    const pem = (await read('crl/pem')).text;
    expect(String(pem)).toMatch(/^-----BEGIN X509 CRL-----/);
    expect((await read('cert/crl')).data?.certificate).toBe(pem);
  });
});
