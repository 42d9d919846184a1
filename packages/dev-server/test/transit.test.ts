import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTransitBackend } from '../src/backends/transit/index.js';
import { call as callBackend, testContext } from './support/direct.js';
import { type EngineHarness, startEngine } from './support/engine.js';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: unknown) => Buffer.from(String(text), 'base64').toString('utf8');

// Every test gets a fresh dev server with transit mounted through `POST /v1/sys/mounts/transit`.
let engine: EngineHarness;
const post = (path: string, data: Record<string, unknown> = {}) => engine.post(path, data);
const read = (path: string, data?: Record<string, unknown>) => engine.call('read', path, data);

beforeEach(async () => {
  engine = await startEngine('transit');
});
afterEach(async () => {
  await engine.close();
});

describe('transit keys', () => {
  it('creates, reads, lists, configures and deletes a key with Vault’s fields and errors', async () => {
    const created = await post('keys/orders');
    expect(created.status).toBe(200);
    expect(created.data).toMatchObject({ name: 'orders', type: 'aes256-gcm96', latest_version: 1 });
    expect((await post('keys/orders')).warnings).toEqual(['key orders already existed']);

    const key = await read('keys/orders');
    expect(key.status).toBe(200);
    expect(Object.keys(key.data ?? {}).sort()).toEqual(
      [
        'allow_plaintext_backup',
        'auto_rotate_period',
        'deletion_allowed',
        'derived',
        'exportable',
        'imported_key',
        'keys',
        'latest_version',
        'min_available_version',
        'min_decryption_version',
        'min_encryption_version',
        'name',
        'supports_decryption',
        'supports_derivation',
        'supports_encryption',
        'supports_signing',
        'type',
      ].sort(),
    );
    expect(key.data).toMatchObject({
      min_decryption_version: 1,
      min_encryption_version: 0,
      min_available_version: 0,
      deletion_allowed: false,
      supports_encryption: true,
      supports_signing: false,
      auto_rotate_period: 0,
    });
    const created1 = (key.data?.keys as Record<string, number> | undefined)?.['1'] ?? 0;
    expect(Math.abs(created1 - Date.now() / 1000)).toBeLessThan(60);

    expect((await read('keys/missing')).status).toBe(404);
    await post('keys/alpha', { type: 'chacha20-poly1305' });
    expect((await engine.call('list', 'keys/')).data).toEqual({ keys: ['alpha', 'orders'] });

    const refused = await engine.call('delete', 'keys/orders');
    expect(refused.status).toBe(400);
    expect(refused.errors).toEqual(['error deleting policy orders: deletion is not allowed for this key']);
    const configured = await post('keys/orders/config', { deletion_allowed: true, auto_rotate_period: '2h' });
    expect(configured.data).toMatchObject({ deletion_allowed: true, auto_rotate_period: 7200 });
    expect((await post('keys/orders/config', { auto_rotate_period: '10m' })).errors).toEqual([
      'auto rotate period must be 0 to disable or at least an hour',
    ]);
    expect((await engine.call('delete', 'keys/orders')).status).toBe(204);
    expect((await read('keys/orders')).status).toBe(404);
    expect((await post('keys/nope/config', { deletion_allowed: true })).errors).toEqual([
      'no existing key named nope could be found',
    ]);
    expect((await post('keys/nope/rotate')).errors).toEqual(['key not found']);
    expect((await post('keys/bad', { type: 'des' })).errors).toEqual(['unknown key type des']);
    expect((await read('encrypt/orders')).status).toBe(405);
  });

  it('concurrent upserts of one key in the same tick share a single key (backend called directly)', async () => {
    const transit = createTransitBackend(testContext('transit/'));
    const results = await Promise.all(
      ['a', 'b', 'c'].map((v) => callBackend(transit, 'update', 'encrypt/same-tick', { plaintext: b64(v) })),
    );
    for (const [i, v] of ['a', 'b', 'c'].entries()) {
      const dec = await callBackend(transit, 'update', 'decrypt/same-tick', {
        ciphertext: results[i]?.data?.ciphertext,
      });
      expect(unb64(dec.data?.plaintext)).toBe(v);
    }
  });

  it('auto-rotates lazily once auto_rotate_period has elapsed (backend with an injected clock)', async () => {
    let clock = Date.now();
    const transit = createTransitBackend(testContext('transit/', () => clock));
    await callBackend(transit, 'update', 'keys/auto', { auto_rotate_period: '1h' });
    clock += 3599_000;
    expect((await callBackend(transit, 'read', 'keys/auto')).data?.latest_version).toBe(1);
    clock += 2_000;
    // Several requests arriving together after the period rotate once.
    const reads = await Promise.all([1, 2, 3].map(() => callBackend(transit, 'read', 'keys/auto')));
    expect(reads.map((r) => r.data?.latest_version)).toEqual([2, 2, 2]);
    // Explicit concurrent rotations add one version each.
    await Promise.all([1, 2].map(() => callBackend(transit, 'update', 'keys/auto/rotate')));
    expect((await callBackend(transit, 'read', 'keys/auto')).data?.latest_version).toBe(4);
    expect(Object.keys((await callBackend(transit, 'read', 'keys/auto')).data?.keys as object)).toEqual([
      '1',
      '2',
      '3',
      '4',
    ]);
  });
});

describe('transit encrypt/decrypt', () => {
  it('round-trips, upserting the key on first encrypt, in Vault’s ciphertext format', async () => {
    const enc = await post('encrypt/upserted', { plaintext: b64('hello world') });
    expect(enc.status).toBe(200);
    expect(enc.data?.key_version).toBe(1);
    const ciphertext = String(enc.data?.ciphertext);
    expect(ciphertext).toMatch(/^vault:v1:[A-Za-z0-9+/]+=*$/);
    const payload = Buffer.from(ciphertext.slice('vault:v1:'.length), 'base64');
    // 12-byte nonce ‖ ciphertext (same length as plaintext for GCM) ‖ 16-byte tag
    expect(payload.length).toBe(12 + 'hello world'.length + 16);
    expect((await read('keys/upserted')).data?.type).toBe('aes256-gcm96');

    const dec = await post('decrypt/upserted', { ciphertext });
    expect(dec.status).toBe(200);
    expect(unb64(dec.data?.plaintext)).toBe('hello world');

    // Two encryptions of the same plaintext differ (random nonce).
    const again = await post('encrypt/upserted', { plaintext: b64('hello world') });
    expect(again.data?.ciphertext).not.toBe(ciphertext);
  });

  it('concurrent encrypts on a fresh key upsert one key that decrypts them all', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => post('encrypt/racy', { plaintext: b64(`value-${i}`) })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect((await read('keys/racy')).data?.latest_version).toBe(1);
    for (const [i, result] of results.entries()) {
      const dec = await post('decrypt/racy', { ciphertext: result.data?.ciphertext });
      expect(unb64(dec.data?.plaintext)).toBe(`value-${i}`);
    }
  });

  it('reports tampering, malformed ciphertexts and missing keys with Vault’s texts', async () => {
    const { data } = await post('encrypt/k', { plaintext: b64('secret') });
    const ciphertext = String(data?.ciphertext);
    const payload = Buffer.from(ciphertext.slice(9), 'base64');
    payload[payload.length - 1] = (payload[payload.length - 1] ?? 0) ^ 0x01;
    const tampered = `vault:v1:${payload.toString('base64')}`;
    const cases: [string, string][] = [
      [tampered, 'cipher: message authentication failed'],
      ['nope', 'invalid ciphertext: no prefix'],
      ['vault:v1', 'invalid ciphertext: wrong number of fields'],
      ['vault:vX:abcd', 'invalid ciphertext: version number could not be decoded'],
      ['vault:v9:abcd', 'invalid ciphertext: version is too new'],
      ['vault:v1:!!!', 'invalid ciphertext: could not decode base64'],
    ];
    for (const [input, message] of cases) {
      const res = await post('decrypt/k', { ciphertext: input });
      expect(res.status, input).toBe(400);
      expect(res.errors).toEqual([message]);
    }
    expect((await post('decrypt/missing', { ciphertext })).errors).toEqual(['encryption key not found']);
    expect((await post('decrypt/k', {})).errors).toEqual(['missing ciphertext to decrypt']);
    expect((await post('encrypt/k', {})).errors).toEqual(['missing plaintext to encrypt']);
    expect((await post('encrypt/k', { plaintext: 'not base64!' })).errors).toEqual([
      'illegal base64 data at input byte 3',
    ]);
    expect((await post('encrypt/k', { plaintext: b64('x'), key_version: 5 })).errors).toEqual([
      'requested version for encryption is higher than the latest key version',
    ]);
  });

  it('authenticates associated_data and supports aes128 and chacha20-poly1305 keys', async () => {
    for (const type of ['aes128-gcm96', 'chacha20-poly1305']) {
      await post(`keys/${type}`, { type });
      const aad = b64('order-42');
      const enc = await post(`encrypt/${type}`, { plaintext: b64(type), associated_data: aad });
      const ciphertext = enc.data?.ciphertext;
      expect(
        unb64((await post(`decrypt/${type}`, { ciphertext, associated_data: aad })).data?.plaintext),
      ).toBe(type);
      const wrong = await post(`decrypt/${type}`, { ciphertext, associated_data: b64('order-43') });
      expect(wrong.status).toBe(400);
      expect(wrong.errors?.[0]).toMatch(/message authentication failed$/);
    }
  });

  it('rotation, key_version and min_decryption_version / min_encryption_version', async () => {
    const v1 = String((await post('encrypt/rot', { plaintext: b64('one') })).data?.ciphertext);
    const rotated = await post('keys/rot/rotate');
    expect(rotated.data?.latest_version).toBe(2);
    const v2 = await post('encrypt/rot', { plaintext: b64('two') });
    expect(String(v2.data?.ciphertext)).toMatch(/^vault:v2:/);
    expect(v2.data?.key_version).toBe(2);
    const pinned = await post('encrypt/rot', { plaintext: b64('old'), key_version: 1 });
    expect(String(pinned.data?.ciphertext)).toMatch(/^vault:v1:/);

    // Old ciphertexts still decrypt until min_decryption_version moves past them.
    expect(unb64((await post('decrypt/rot', { ciphertext: v1 })).data?.plaintext)).toBe('one');
    // rewrap moves v1 ciphertext to v2 without exposing plaintext
    const rewrapped = await post('rewrap/rot', { ciphertext: v1 });
    expect(String(rewrapped.data?.ciphertext)).toMatch(/^vault:v2:/);
    expect(rewrapped.data).not.toHaveProperty('plaintext');

    await post('keys/rot/config', { min_decryption_version: 2 });
    const tooOld = await post('decrypt/rot', { ciphertext: v1 });
    expect(tooOld.status).toBe(400);
    expect(tooOld.errors).toEqual(['ciphertext or signature version is disallowed by policy (too old)']);
    expect(
      unb64((await post('decrypt/rot', { ciphertext: rewrapped.data?.ciphertext })).data?.plaintext),
    ).toBe('one');

    expect((await post('keys/rot/config', { min_decryption_version: 5 })).errors).toEqual([
      'cannot set min decryption version of 5, latest key version is 2',
    ]);
    await post('keys/rot/config', { min_encryption_version: 2 });
    expect((await post('encrypt/rot', { plaintext: b64('x'), key_version: 1 })).errors).toEqual([
      'requested version for encryption is less than the minimum encryption key version',
    ]);
    const rotKey = await read('keys/rot');
    expect(rotKey.data).toMatchObject({
      latest_version: 2,
      min_decryption_version: 2,
      min_encryption_version: 2,
    });
    expect(Object.keys(rotKey.data?.keys as object)).toEqual(['1', '2']);
  });

  it('derived keys need a context and the context selects the key', async () => {
    const ctxA = b64('tenant-a');
    const ctxB = b64('tenant-b');
    const enc = await post('encrypt/derived', { plaintext: b64('scoped'), context: ctxA });
    expect((await read('keys/derived')).data).toMatchObject({
      derived: true,
      kdf: 'hkdf_sha256',
    });
    const ciphertext = enc.data?.ciphertext;
    expect(unb64((await post('decrypt/derived', { ciphertext, context: ctxA })).data?.plaintext)).toBe(
      'scoped',
    );
    expect((await post('decrypt/derived', { ciphertext, context: ctxB })).errors).toEqual([
      'cipher: message authentication failed',
    ]);
    const missing = await post('decrypt/derived', { ciphertext });
    expect(missing.status).toBe(400);
    expect(missing.errors?.[0]).toMatch(/^missing 'context' for key derivation; /);

    // convergent encryption: same plaintext + context → same ciphertext
    await post('keys/conv', { derived: true, convergent_encryption: true });
    const c1 = await post('encrypt/conv', { plaintext: b64('same'), context: ctxA });
    const c2 = await post('encrypt/conv', { plaintext: b64('same'), context: ctxA });
    expect(c1.data?.ciphertext).toBe(c2.data?.ciphertext);
    expect(
      unb64((await post('decrypt/conv', { ciphertext: c1.data?.ciphertext, context: ctxA })).data?.plaintext),
    ).toBe('same');
    expect((await post('keys/bad', { convergent_encryption: true })).errors).toEqual([
      'convergent encryption requires derivation to be enabled',
    ]);
  });

  it('batch: per-item results and errors, references echoed, Vault’s status rules', async () => {
    await post('keys/batch');
    const ok = await post('encrypt/batch', {
      batch_input: [
        { plaintext: b64('a'), reference: 'r1' },
        { plaintext: b64('b'), reference: 'r2' },
      ],
    });
    expect(ok.status).toBe(200);
    const results = ok.data?.batch_results as {
      ciphertext: string;
      key_version: number;
      reference: string;
    }[];
    expect(results.map((r) => r.reference)).toEqual(['r1', 'r2']);
    expect(results.every((r) => r.ciphertext.startsWith('vault:v1:') && r.key_version === 1)).toBe(true);
    expect(results[0]).not.toHaveProperty('error');

    const mixed = await post('encrypt/batch', {
      batch_input: [
        { plaintext: b64('good'), reference: 'g' },
        { plaintext: '%%%', reference: 'b' },
      ],
    });
    expect(mixed.status).toBe(400);
    const mixedResults = mixed.data?.batch_results as Record<string, unknown>[];
    expect(mixedResults[0]?.ciphertext).toMatch(/^vault:v1:/);
    expect(mixedResults[1]).toEqual({ error: 'illegal base64 data at input byte 0', reference: 'b' });

    const partial = await post('encrypt/batch', {
      batch_input: [{ plaintext: b64('good') }, { plaintext: '%%%' }],
      partial_failure_response_code: 207,
    });
    expect(partial.status).toBe(207);
    const allFail = await post('encrypt/batch', {
      batch_input: [{ plaintext: '%%%' }],
      partial_failure_response_code: 207,
    });
    expect(allFail.status).toBe(400);

    const decrypted = await post('decrypt/batch', {
      batch_input: [
        { ciphertext: results[0]?.ciphertext, reference: 'x' },
        { ciphertext: 'vault:v1:AAAA', reference: 'y' },
        { ciphertext: results[1]?.ciphertext, reference: 'z' },
      ],
    });
    expect(decrypted.status).toBe(400);
    const decResults = decrypted.data?.batch_results as {
      plaintext: string;
      error?: string;
      reference: string;
    }[];
    expect(unb64(decResults[0]?.plaintext)).toBe('a');
    expect(decResults[1]).toEqual({ plaintext: '', error: 'invalid ciphertext length', reference: 'y' });
    expect(unb64(decResults[2]?.plaintext)).toBe('b');

    const contextMix = await post('encrypt/batch', {
      batch_input: [{ plaintext: b64('a'), context: b64('c') }, { plaintext: b64('b') }],
    });
    expect(contextMix.status).toBe(400);
    expect(contextMix.errors).toEqual(['context should be set either in all the request blocks or in none']);
    expect((await post('encrypt/batch', { batch_input: [] })).errors).toEqual([
      'missing batch input to process',
    ]);
  });
});

describe('transit data keys', () => {
  it('wrapped data keys decrypt to the plaintext key; bits and type are validated', async () => {
    await post('keys/dk');
    const plain = await post('datakey/plaintext/dk', { bits: 512 });
    expect(Buffer.from(String(plain.data?.plaintext), 'base64').length).toBe(64);
    const unwrapped = await post('decrypt/dk', { ciphertext: plain.data?.ciphertext });
    expect(unwrapped.data?.plaintext).toBe(plain.data?.plaintext);

    const wrapped = await post('datakey/wrapped/dk', { bits: 128 });
    expect(wrapped.data).not.toHaveProperty('plaintext');
    expect(wrapped.data?.key_version).toBe(1);
    const key = await post('decrypt/dk', { ciphertext: wrapped.data?.ciphertext });
    expect(Buffer.from(String(key.data?.plaintext), 'base64').length).toBe(16);
    const defaultBits = await post('datakey/plaintext/dk');
    expect(Buffer.from(String(defaultBits.data?.plaintext), 'base64').length).toBe(32);

    expect((await post('datakey/plaintext/dk', { bits: 100 })).errors).toEqual(['invalid bit length']);
    expect((await post('datakey/other/dk')).errors).toEqual([
      "Invalid path, must be 'plaintext' or 'wrapped'",
    ]);
    expect((await post('datakey/wrapped/none')).errors).toEqual(['encryption key not found']);
  });
});

describe('transit sign/verify and hmac', () => {
  it('signs and verifies with ed25519, ecdsa-p256 and rsa-2048 keys', async () => {
    const input = b64('message to sign');
    for (const type of ['ed25519', 'ecdsa-p256', 'rsa-2048']) {
      const created = await post(`keys/${type}`, { type });
      expect(created.data?.supports_signing).toBe(true);
      const signed = await post(`sign/${type}`, { input });
      expect(signed.status, type).toBe(200);
      const signature = String(signed.data?.signature);
      expect(signature).toMatch(/^vault:v1:/);
      expect((await post(`verify/${type}`, { input, signature })).data).toEqual({ valid: true });
      expect((await post(`verify/${type}`, { input: b64('other'), signature })).data).toEqual({
        valid: false,
      });

      // The public key from the key read verifies the raw signature independently.
      const keys = (await read(`keys/${type}`)).data?.keys as Record<string, { public_key: string }>;
      const publicKeyText = keys['1']?.public_key ?? '';
      const publicKey =
        type === 'ed25519'
          ? createPublicKey({
              key: Buffer.concat([
                Buffer.from('302a300506032b6570032100', 'hex'),
                Buffer.from(publicKeyText, 'base64'),
              ]),
              format: 'der',
              type: 'spki',
            })
          : createPublicKey(publicKeyText);
      const raw = Buffer.from(signature.slice('vault:v1:'.length), 'base64');
      const options =
        type === 'rsa-2048'
          ? { key: publicKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -2 }
          : publicKey;
      expect(
        nodeVerify(type === 'ed25519' ? null : 'sha256', Buffer.from('message to sign'), options, raw),
      ).toBe(true);
    }
    // jws marshaling and hash in the URL
    await post('keys/es', { type: 'ecdsa-p256' });
    const jws = await post('sign/es/sha2-384', { input, marshaling_algorithm: 'jws' });
    expect(String(jws.data?.signature)).toMatch(/^vault:v1:[A-Za-z0-9_-]+$/);
    expect(
      (
        await post('verify/es/sha2-384', {
          input,
          signature: jws.data?.signature,
          marshaling_algorithm: 'jws',
        })
      ).data,
    ).toEqual({ valid: true });
    expect((await post('sign/aes', { input })).errors).toEqual(['signing key not found']);
    await post('keys/aes');
    expect((await post('sign/aes', { input })).errors).toEqual([
      'key type aes256-gcm96 does not support signing',
    ]);
    expect((await post('verify/es', { input })).errors).toEqual([
      "neither a 'signature' nor an 'hmac' were given to verify",
    ]);
    expect((await post('sign/es', { input, hash_algorithm: 'md5' })).errors).toEqual([
      'invalid hash algorithm "md5"',
    ]);
  });

  it('hmac and verify hmac round-trip, versioned', async () => {
    await post('keys/mac');
    const input = b64('payload');
    const mac = await post('hmac/mac', { input });
    expect(String(mac.data?.hmac)).toMatch(/^vault:v1:[A-Za-z0-9+/]{43}=$/);
    expect((await post('verify/mac', { input, hmac: mac.data?.hmac })).data).toEqual({ valid: true });
    expect((await post('verify/mac', { input: b64('tampered'), hmac: mac.data?.hmac })).data).toEqual({
      valid: false,
    });
    const sha512 = await post('hmac/mac/sha2-512', { input });
    expect(Buffer.from(String(sha512.data?.hmac).slice(9), 'base64').length).toBe(64);
    expect((await post('verify/mac/sha2-512', { input, hmac: sha512.data?.hmac })).data).toEqual({
      valid: true,
    });
    await post('keys/mac/rotate');
    expect(String((await post('hmac/mac', { input })).data?.hmac)).toMatch(/^vault:v2:/);
    expect((await post('verify/mac', { input, hmac: mac.data?.hmac })).data).toEqual({ valid: true });
    await post('keys/mac/config', { min_decryption_version: 2 });
    expect((await post('verify/mac', { input, hmac: mac.data?.hmac })).errors).toEqual([
      'cannot verify HMAC: version is too old (disallowed by policy)',
    ]);
    expect((await post('verify/mac', { input, hmac: 'nope' })).errors).toEqual([
      'invalid HMAC to verify: no prefix',
    ]);
    expect((await post('hmac/mac', {})).errors).toEqual(['missing input for HMAC']);
    const batch = await post('hmac/mac', {
      batch_input: [
        { input, reference: 'a' },
        { input: '%', reference: 'b' },
      ],
    });
    const items = batch.data?.batch_results as Record<string, unknown>[];
    expect(items[0]?.hmac).toMatch(/^vault:v2:/);
    expect(items[1]?.error).toBe('unable to decode input as base64: illegal base64 data at input byte 0');
  });
});

describe('transit over the framework: ACLs and the remaining paths', () => {
  it('upserting a key on encrypt needs `create`; encrypting with an existing key needs only `update`', async () => {
    const { server } = engine;
    const policy = 'path "transit/encrypt/*" { capabilities = ["update"] }';
    expect(
      (
        await fetch(`${server.url}/v1/sys/policies/acl/enc`, {
          method: 'PUT',
          headers: { 'x-vault-token': server.rootToken, 'content-type': 'application/json' },
          body: JSON.stringify({ policy }),
        })
      ).status,
    ).toBe(204);
    const created = await fetch(`${server.url}/v1/auth/token/create`, {
      method: 'POST',
      headers: { 'x-vault-token': server.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ policies: ['enc'] }),
    });
    const token = ((await created.json()) as { auth: { client_token: string } }).auth.client_token;
    const encrypt = (name: string) =>
      fetch(`${server.url}/v1/transit/encrypt/${name}`, {
        method: 'POST',
        headers: { 'x-vault-token': token, 'content-type': 'application/json' },
        body: JSON.stringify({ plaintext: b64('x') }),
      });
    expect((await encrypt('not-yet')).status).toBe(403);
    await post('keys/existing');
    expect((await encrypt('existing')).status).toBe(200);
  });

  it('RSA encryption, rewrap batches, derived ed25519, export, random and hash', async () => {
    await post('keys/rsa', { type: 'rsa-2048', exportable: true });
    const enc = await post('encrypt/rsa', { plaintext: b64('oaep') });
    expect(Buffer.from(String(enc.data?.ciphertext).slice(9), 'base64').length).toBe(256);
    expect(unb64((await post('decrypt/rsa', { ciphertext: enc.data?.ciphertext })).data?.plaintext)).toBe(
      'oaep',
    );
    expect((await post('encrypt/rsa', { plaintext: b64('x'), associated_data: b64('a') })).errors).toEqual([
      "'associated_data' provided for non-AEAD cipher suite rsa-2048",
    ]);
    const rsaExport = await read('export/encryption-key/rsa/latest');
    expect(String((rsaExport.data?.keys as Record<string, string> | undefined)?.['1'])).toMatch(
      /^-----BEGIN RSA PRIVATE KEY-----/,
    );

    await post('keys/rw');
    const c1 = (await post('encrypt/rw', { plaintext: b64('one') })).data?.ciphertext;
    await post('keys/rw/rotate');
    const rewrapped = await post('rewrap/rw', {
      batch_input: [
        { ciphertext: c1, reference: 'ok' },
        { ciphertext: 'garbage', reference: 'bad' },
      ],
    });
    expect(rewrapped.status).toBe(200);
    const items = rewrapped.data?.batch_results as Record<string, unknown>[];
    expect(items[0]).toMatchObject({ key_version: 2, reference: 'ok' });
    expect(String(items[0]?.ciphertext)).toMatch(/^vault:v2:/);
    expect(items[1]).toEqual({ error: 'invalid ciphertext: no prefix', reference: 'bad' });
    expect((await read('export/encryption-key/rw')).errors).toEqual([
      'private key material is not exportable',
    ]);

    await post('keys/ed', { type: 'ed25519', derived: true });
    const context = b64('tenant-1');
    const signed = await post('sign/ed', { input: b64('m'), context });
    expect(typeof signed.data?.public_key).toBe('string');
    const keyRead = await read('keys/ed', { context });
    expect(
      (keyRead.data?.keys as Record<string, { public_key: string }> | undefined)?.['1']?.public_key,
    ).toBe(signed.data?.public_key);
    expect(
      (await post('verify/ed', { input: b64('m'), signature: signed.data?.signature, context })).data,
    ).toEqual({
      valid: true,
    });
    expect(
      (
        await post('verify/ed', {
          input: b64('m'),
          signature: signed.data?.signature,
          context: b64('tenant-2'),
        })
      ).data,
    ).toEqual({ valid: false });

    const random = await post('random/16', { format: 'hex' });
    expect(String(random.data?.random_bytes)).toMatch(/^[0-9a-f]{32}$/);
    const hash = await post('hash/sha2-512', { input: b64('abc'), format: 'hex' });
    expect(hash.data?.sum).toBe(
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    );
  });
});
