import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/index.js';
import { createCertificateRequest } from '../src/util/x509.js';
import { type EngineHarness, startEngine } from './support/engine.js';

// Vault 1.17's PKI intermediates, sign-verbatim, config/urls, config/crl, crl/rotate and tidy
// (https://github.com/hashicorp/vault/tree/main/builtin/logical/pki). Every certificate, CSR and CRL is checked
// with the openssl CLI, an independent parser.
const run = promisify(execFile);
let engine: EngineHarness;
let clock: ManualClock;
let dir: string;

const post = (path: string, data: Record<string, unknown> = {}) => engine.post(path, data);
const read = (path: string) => engine.call('read', path);

/** A request to another mount of the same server (the intermediate lives in `pki_int`). */
async function onMount(mount: string, method: 'GET' | 'POST', path: string, body?: Record<string, unknown>) {
  const response = await fetch(`${engine.server.url}/v1/${mount}/${path}`, {
    method,
    headers: { 'x-vault-token': engine.server.rootToken, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const parsed = text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : {};
  return {
    status: response.status,
    data: parsed.data as Record<string, unknown> | undefined,
    errors: parsed.errors as string[] | undefined,
    warnings: parsed.warnings as string[] | undefined,
    text,
  };
}

async function openssl(args: string[], files: Record<string, string | Buffer> = {}) {
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  const { stdout, stderr } = await run('openssl', args, { cwd: dir });
  return `${stdout}${stderr}`;
}

beforeEach(async () => {
  clock = new ManualClock(Date.parse('2031-03-01T00:00:00Z'));
  engine = await startEngine('pki', 'pki', { max_lease_ttl: '87600h' }, { clock });
  dir = await mkdtemp(join(tmpdir(), 'leasehold-pki-'));
});
afterEach(async () => {
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

async function root() {
  const answer = await post('root/generate/internal', {
    common_name: 'Test Root',
    ttl: '87600h',
    key_type: 'ec',
  });
  expect(answer.status).toBe(200);
  return String(answer.data?.certificate);
}

async function mountIntermediate() {
  const mounted = await fetch(`${engine.server.url}/v1/sys/mounts/pki_int`, {
    method: 'POST',
    headers: { 'x-vault-token': engine.server.rootToken, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'pki', config: { max_lease_ttl: '43800h' } }),
  });
  expect(mounted.status).toBe(204);
}

describe('pki intermediates', () => {
  it('generate → sign-intermediate → set-signed builds a chain openssl verifies down to a leaf', async () => {
    const rootPem = await root();
    await mountIntermediate();
    const generated = await onMount('pki_int', 'POST', 'intermediate/generate/internal', {
      common_name: 'Test Intermediate',
      key_type: 'rsa',
      key_bits: 2048,
    });
    expect(generated.status).toBe(200);
    expect(Object.keys(generated.data ?? {}).sort()).toEqual(['csr', 'key_id']);
    expect(generated.warnings?.[0]).toMatch(/^This mount hasn't configured any authority information access/);
    const csr = String(generated.data?.csr);
    const csrText = await openssl(['req', '-in', 'int.csr', '-verify', '-noout', '-subject'], {
      'int.csr': csr,
    });
    expect(csrText).toMatch(/verify OK/);
    expect(csrText).toMatch(/subject=CN ?= ?Test Intermediate/);

    const signed = await post('root/sign-intermediate', {
      csr,
      common_name: 'Test Intermediate',
      ttl: '43800h',
    });
    expect(signed.status).toBe(200);
    expect(Object.keys(signed.data ?? {}).sort()).toEqual(
      ['ca_chain', 'certificate', 'expiration', 'issuing_ca', 'serial_number'].sort(),
    );
    const intPem = String(signed.data?.certificate);
    expect(new X509Certificate(intPem).ca).toBe(true);
    expect(signed.data?.ca_chain).toEqual([intPem, rootPem]);
    expect(signed.warnings?.[0]).toMatch(/^This mount hasn't configured any authority information access/);
    expect(signed.data?.expiration).toBe(Date.parse('2031-03-01T00:00:00Z') / 1000 + 43800 * 3600);

    const set = await onMount('pki_int', 'POST', 'intermediate/set-signed', { certificate: intPem });
    expect(set.status).toBe(200);
    const issuerId = ((set.data?.imported_issuers ?? []) as string[])[0];
    expect(set.data).toMatchObject({
      imported_keys: null,
      existing_issuers: null,
      mapping: { [String(issuerId)]: generated.data?.key_id },
    });
    expect((await onMount('pki_int', 'GET', 'ca/pem')).text).toBe(intPem);

    expect(
      (
        await onMount('pki_int', 'POST', 'roles/web', {
          allowed_domains: 'example.com',
          allow_subdomains: true,
        })
      ).status,
    ).toBe(200);
    const leaf = await onMount('pki_int', 'POST', 'issue/web', { common_name: 'app.example.com', ttl: '1h' });
    expect(leaf.status).toBe(200);
    expect(leaf.data?.issuing_ca).toBe(intPem);
    const verified = await openssl(
      [
        'verify',
        '-attime',
        String(Date.parse('2031-03-01T00:10:00Z') / 1000),
        '-CAfile',
        'root.pem',
        '-untrusted',
        'int.pem',
        'leaf.pem',
      ],
      { 'root.pem': rootPem, 'int.pem': intPem, 'leaf.pem': String(leaf.data?.certificate) },
    );
    expect(verified).toMatch(/leaf\.pem: OK/);
  });

  it('exported intermediates return the private key; pem_bundle prefixes it to the CSR; der is base64', async () => {
    await root();
    const exported = await post('intermediate/generate/exported', { common_name: 'X', key_type: 'ec' });
    expect(exported.status).toBe(200);
    expect(exported.data).toMatchObject({ private_key_type: 'ec' });
    expect(String(exported.data?.private_key)).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    const pkcs8 = await post('intermediate/generate/exported', {
      common_name: 'X',
      key_type: 'ec',
      format: 'pem_bundle',
      private_key_format: 'pkcs8',
    });
    expect(String(pkcs8.data?.csr)).toMatch(
      /^-----BEGIN PRIVATE KEY-----[\s\S]+-----BEGIN CERTIFICATE REQUEST-----/,
    );
    const der = await post('intermediate/generate/internal', {
      common_name: 'X',
      key_type: 'ec',
      format: 'der',
    });
    const text = await openssl(['req', '-inform', 'DER', '-in', 'x.der', '-verify', '-noout'], {
      'x.der': Buffer.from(String(der.data?.csr), 'base64'),
    });
    expect(text).toMatch(/verify OK/);
    // With config/urls set, the AIA warning is gone.
    await post('config/urls', { issuing_certificates: 'http://pki.test/v1/pki/ca' });
    expect(
      (await post('intermediate/generate/internal', { common_name: 'X', key_type: 'ec' })).warnings,
    ).toBeNull();
  });

  it('answers Vault’s errors', async () => {
    expect(await post('intermediate/generate/bogus', { common_name: 'X' })).toMatchObject({
      status: 400,
      errors: ['the "exported" path parameter must be "internal", "existing", exported" or "kms"'],
    });
    expect(await post('intermediate/generate/internal', {})).toMatchObject({ status: 400 });
    expect(await post('root/sign-intermediate', { common_name: 'X' })).toMatchObject({
      status: 400,
      errors: ['no default issuer currently configured'],
    });
    await root();
    expect(await post('root/sign-intermediate', { common_name: 'X' })).toMatchObject({
      status: 400,
      errors: ['"csr" is empty'],
    });
    expect(await post('root/sign-intermediate', { common_name: 'X', csr: 'garbage' })).toMatchObject({
      status: 400,
      errors: ['csr contains no data'],
    });
    const { csrPem } = await createCertificateRequest({ commonName: 'from-csr' });
    expect(await post('root/sign-intermediate', { csr: csrPem, format: 'jwk' })).toMatchObject({
      status: 400,
      errors: ['The "format" path parameter must be "pem", "der" or "pem_bundle"'],
    });
    // Without common_name, Vault takes the CSR's; max_path_length 0 and the truncation at the root's NotAfter warn.
    const byCsr = await post('root/sign-intermediate', { csr: csrPem, max_path_length: 0, ttl: '876000h' });
    expect(byCsr.status).toBe(200);
    expect(byCsr.warnings).toEqual(
      expect.arrayContaining([
        'Max path length of the signed certificate is zero. This certificate cannot be used to issue intermediate CA certificates.',
        "the signed intermediary CA certificate's notAfter was truncated to the issuer's notAfter",
      ]),
    );
    expect(new X509Certificate(String(byCsr.data?.certificate)).subject).toBe('CN=from-csr');
    expect(
      await openssl(['x509', '-in', 'c.pem', '-noout', '-text'], {
        'c.pem': String(byCsr.data?.certificate),
      }),
    ).toMatch(/CA:TRUE, pathlen:0/);
    expect(await post('intermediate/set-signed', {})).toMatchObject({
      status: 400,
      errors: ['no data found in PEM block'],
    });
    expect(
      await post('intermediate/set-signed', { certificate: String(byCsr.data?.certificate) }),
    ).toMatchObject({
      status: 400,
    });
  });
});

describe('pki sign-verbatim', () => {
  it('keeps the CSR’s subject and SANs and is verifiable against the root', async () => {
    const rootPem = await root();
    const { csrPem } = await createCertificateRequest({
      commonName: 'verbatim.internal',
      dnsNames: ['verbatim.internal', 'other.internal'],
      ipAddresses: ['10.0.0.1'],
    });
    const signed = await post('sign-verbatim', { csr: csrPem, ttl: '2h', ext_key_usage: 'ServerAuth' });
    expect(signed.status).toBe(200);
    expect(signed.data?.expiration).toBe(Date.parse('2031-03-01T00:00:00Z') / 1000 + 7200);
    const text = await openssl(['x509', '-in', 'v.pem', '-noout', '-text'], {
      'v.pem': String(signed.data?.certificate),
    });
    expect(text).toMatch(/Subject: CN ?= ?verbatim\.internal/);
    expect(text).toMatch(/DNS:verbatim\.internal, DNS:other\.internal, IP Address:10\.0\.0\.1/);
    expect(text).toMatch(/TLS Web Server Authentication/);
    expect(
      await openssl(
        ['verify', '-attime', String(Date.parse('2031-03-01T00:10:00Z') / 1000), '-CAfile', 'r.pem', 'v.pem'],
        {
          'r.pem': rootPem,
        },
      ),
    ).toMatch(/v\.pem: OK/);
    expect((await read(`cert/${signed.data?.serial_number}`)).status).toBe(200);
    expect(await post('sign-verbatim/nope', { csr: csrPem })).toMatchObject({
      status: 400,
      errors: ['unknown role: nope'],
    });
    expect(await post('sign-verbatim', {})).toMatchObject({ status: 400, errors: ['"csr" is empty'] });
  });
});

describe('pki config/urls and config/crl', () => {
  it('stores the URLs, embeds them in issued certificates and validates them', async () => {
    expect((await read('config/urls')).data).toEqual({
      issuing_certificates: [],
      crl_distribution_points: [],
      ocsp_servers: [],
      enable_templating: false,
    });
    const written = await post('config/urls', {
      issuing_certificates: ['http://pki.test/v1/pki/ca'],
      crl_distribution_points: 'http://pki.test/v1/pki/crl',
      ocsp_servers: null,
    });
    expect(written.status).toBe(200);
    expect(written.data).toMatchObject({
      issuing_certificates: ['http://pki.test/v1/pki/ca'],
      crl_distribution_points: ['http://pki.test/v1/pki/crl'],
      ocsp_servers: [],
    });
    expect(await post('config/urls', { ocsp_servers: 'not a url' })).toMatchObject({
      status: 400,
      errors: ['invalid URL found in Authority Information Access (AIA) parameter ocsp_servers: not a url'],
    });
    await root();
    await post('roles/r', { allow_any_name: true });
    const leaf = await post('issue/r', { common_name: 'a.test', ttl: '1h' });
    const text = await openssl(['x509', '-in', 'l.pem', '-noout', '-text'], {
      'l.pem': String(leaf.data?.certificate),
    });
    expect(text).toMatch(/CA Issuers - URI:http:\/\/pki\.test\/v1\/pki\/ca/);
    expect(text).toMatch(/X509v3 CRL Distribution Points:[\s\S]*URI:http:\/\/pki\.test\/v1\/pki\/crl/);
  });

  it('reads and writes config/crl with Vault’s defaults and checks', async () => {
    expect((await read('config/crl')).data).toEqual({
      expiry: '72h',
      disable: false,
      ocsp_disable: false,
      auto_rebuild: false,
      auto_rebuild_grace_period: '12h',
      ocsp_expiry: '12h',
      enable_delta: false,
      delta_rebuild_interval: '15m',
      cross_cluster_revocation: false,
      unified_crl: false,
      unified_crl_on_existing_paths: false,
    });
    expect(await post('config/crl', { expiry: 'soon' })).toMatchObject({
      status: 400,
      errors: ['given expiry could not be decoded: time: invalid duration "soon"'],
    });
    expect(await post('config/crl', { enable_delta: true })).toMatchObject({
      status: 400,
      errors: [
        'Delta CRLs cannot be enabled when auto rebuilding is disabled as the complete CRL is always regenerated!',
      ],
    });
    expect(await post('config/crl', { disable: 'tRuE' })).toMatchObject({ status: 400 });
    expect(await post('config/crl', { auto_rebuild: true, auto_rebuild_grace_period: '72h' })).toMatchObject({
      status: 400,
      errors: [
        'CRL auto-rebuilding grace period (72h) must be strictly shorter than CRL expiry (72h) value when auto-rebuilding of CRLs is enabled',
      ],
    });
    expect((await post('config/crl', { expiry: '86400' })).data).toMatchObject({ expiry: '86400' });
    const written = await post('config/crl', { expiry: '24h' });
    expect(written).toMatchObject({ status: 200, data: { expiry: '24h' } });
  });
});

describe('pki CRL and tidy', () => {
  it('lists revoked certificates in the DER and PEM CRL, numbers rotations and honours expiry and disable', async () => {
    await root();
    await post('roles/r', { allow_any_name: true });
    const a = await post('issue/r', { common_name: 'a.test', ttl: '1h' });
    const b = await post('issue/r', { common_name: 'b.test', ttl: '1h' });
    await post('revoke', { serial_number: a.data?.serial_number });
    await post('config/crl', { expiry: '24h' });
    const der = await read('crl');
    expect(der.contentType).toBe('application/pkix-crl');
    const text = await openssl(['crl', '-inform', 'DER', '-in', 'c.der', '-noout', '-text'], {
      'c.der': der.bytes,
    });
    const serialA = String(a.data?.serial_number).replace(/:/g, '').toUpperCase();
    const serialB = String(b.data?.serial_number).replace(/:/g, '').toUpperCase();
    expect(text).toContain(`Serial Number: ${serialA}`);
    expect(text).not.toContain(`Serial Number: ${serialB}`);
    expect(text).toMatch(/Last Update: Mar {2}1 00:00:00 2031 GMT/);
    expect(text).toMatch(/Next Update: Mar {2}2 00:00:00 2031 GMT/);
    const number = (crlText: string) => Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(crlText)?.[1]);
    const first = number(text);

    expect(await read('crl/rotate')).toMatchObject({ status: 200, data: { success: true } });
    const pem = await read('crl/pem');
    await writeFile(join(dir, 'ca.pem'), (await read('ca/pem')).text);
    const rotated = await openssl(['crl', '-in', 'c.pem', '-noout', '-text', '-CAfile', 'ca.pem'], {
      'c.pem': pem.text,
    });
    expect(rotated).toMatch(/verify OK/);
    expect(number(rotated)).toBe(first + 1);
    expect(rotated).toContain(`Serial Number: ${serialA}`);

    await post('config/crl', { disable: true });
    const empty = await openssl(['crl', '-in', 'e.pem', '-noout', '-text'], {
      'e.pem': (await read('crl/pem')).text,
    });
    expect(empty).toMatch(/No Revoked Certificates/);
  });

  it('tidy removes expired certificates after the safety buffer on the injected clock', async () => {
    await root();
    await post('roles/r', { allow_any_name: true });
    const expired = await post('issue/r', { common_name: 'old.test', ttl: '1h' });
    const revoked = await post('issue/r', { common_name: 'revoked.test', ttl: '1h' });
    await post('revoke', { serial_number: revoked.data?.serial_number });
    expect((await read('tidy-status')).data).toMatchObject({
      state: 'Inactive',
      cert_store_deleted_count: null,
    });
    expect(await post('tidy', {})).toMatchObject({
      status: 202,
      warnings: [
        'No targets to tidy; specify tidy_cert_store=true or tidy_revoked_certs=true to start a tidy operation.',
      ],
    });
    expect(await post('tidy', { tidy_cert_store: true, safety_buffer: '0s' })).toMatchObject({
      status: 400,
      errors: ['safety_buffer must be greater than zero'],
    });

    // 1h validity + 1h buffer: at +1h59m nothing is tidied, at +2h01m both are.
    await clock.advance((3600 + 3540) * 1000);
    const early = await post('tidy', {
      tidy_cert_store: true,
      tidy_revoked_certs: true,
      safety_buffer: '1h',
    });
    expect(early).toMatchObject({
      status: 202,
      warnings: [
        "Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.",
      ],
    });
    expect((await read('tidy-status')).data).toMatchObject({
      state: 'Finished',
      cert_store_deleted_count: 0,
      revoked_cert_deleted_count: 0,
      safety_buffer: 3600,
    });
    await clock.advance(120_000);
    await post('tidy', { tidy_cert_store: true, safety_buffer: '1h' });
    expect((await read('tidy-status')).data).toMatchObject({
      cert_store_deleted_count: 1,
      revoked_cert_deleted_count: 0,
      time_started: '2031-03-01T02:01:00Z',
    });
    expect((await read(`cert/${expired.data?.serial_number}`)).status).toBe(404);
    expect((await read(`cert/${revoked.data?.serial_number}`)).status).toBe(200);
    await post('tidy', { tidy_revoked_certs: true, safety_buffer: '1h' });
    expect((await read('tidy-status')).data).toMatchObject({ revoked_cert_deleted_count: 1 });
    const crl = await openssl(['crl', '-in', 'c.pem', '-noout', '-text'], {
      'c.pem': (await read('crl/pem')).text,
    });
    expect(crl).toMatch(/No Revoked Certificates/);
  });
});
